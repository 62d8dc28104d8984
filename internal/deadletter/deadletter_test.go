package deadletter

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	at := time.Date(2026, 10, 1, 0, 0, 0, 123456789, time.UTC)
	r := New("t", StageParse, "f", "x:1", errors.New("bad"), []byte("ok text"), at)
	if r.Raw != "ok text" || r.RawBase64 || r.Reason != "bad" || r.ReceivedAt.Nanosecond() != 123000000 {
		t.Fatalf("%+v", r)
	}
	bin := []byte{0xff, 0x00, 'a'}
	r = New("t", StageParse, "f", "x:2", errors.New("bad"), bin, at)
	dec, err := base64.StdEncoding.DecodeString(r.Raw)
	if !r.RawBase64 || err != nil || string(dec) != string(bin) {
		t.Fatalf("binary raw not kept as base64: %+v", r)
	}
	big := strings.Repeat("x", MaxRaw+10)
	r = New("t", StageParse, "f", "x:3", errors.New("bad"), []byte(big), at)
	if len(r.Raw) != MaxRaw || !strings.Contains(r.Reason, "truncated") {
		t.Fatalf("big raw: %d bytes, reason %q", len(r.Raw), r.Reason)
	}
	if New("t", StageParse, "f", "x:1", nil, []byte("a"), at).Key() == New("t", StageParse, "f", "x:2", nil, []byte("a"), at).Key() {
		t.Fatal("different origins share a key")
	}
}
