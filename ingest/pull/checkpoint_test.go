package pull

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var ckID = SourceID{Tenant: "riverside-family", Name: "ehr-prod", Type: TypeFHIRREST}

func TestFileStoreRoundTrip(t *testing.T) {
	s := mustStore(t)
	var st fhirRESTState
	if ok, err := s.Load(ckID, &st); ok || err != nil {
		t.Fatalf("empty store: %v %v", ok, err)
	}
	want := fhirRESTState{Since: time.Date(2026, 10, 1, 8, 0, 1, 500e6, time.UTC), SeenAtSince: []string{"ae-1", "ae-2"}}
	if err := s.Save(ckID, want); err != nil {
		t.Fatal(err)
	}
	var got fhirRESTState
	if ok, err := s.Load(ckID, &got); !ok || err != nil || !got.Since.Equal(want.Since) || len(got.SeenAtSince) != 2 {
		t.Fatalf("got %+v %v %v", got, ok, err)
	}
	p := filepath.Join(s.Dir, "riverside-family", "ehr-prod.json")
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file %v %v", fi, err)
	}
	di, _ := os.Stat(s.Dir)
	if di.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v", di.Mode().Perm())
	}
}

// TestFileStoreTornTempFile: a crash while writing leaves a partial temp
// file; the checkpoint still reads as the last complete one, and the next
// save clears the leftover.
func TestFileStoreTornTempFile(t *testing.T) {
	s := mustStore(t)
	good := fhirRESTState{Since: time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC)}
	if err := s.Save(ckID, good); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(s.Dir, "riverside-family")
	torn := filepath.Join(dir, ".ehr-prod.json.tmp-123456")
	writeFile(t, torn, `{"version":1,"tenant":"riverside-family","source":"ehr-prod","type":"fhir-rest","state":{"since":"2026-10-01T1`)
	var got fhirRESTState
	if ok, err := s.Load(ckID, &got); !ok || err != nil || !got.Since.Equal(good.Since) {
		t.Fatalf("after a torn write: %+v %v %v", got, ok, err)
	}
	if err := s.Save(ckID, fhirRESTState{Since: good.Since.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Errorf("torn temp file left behind: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d files, want the checkpoint only", len(ents))
	}
}

// TestFileStoreRefuses: a corrupt checkpoint, or one of another source or
// type, is an error naming the file, never silently a fresh start (which
// would re-pull or skip).
func TestFileStoreRefuses(t *testing.T) {
	s := mustStore(t)
	if err := s.Save(ckID, fhirRESTState{}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(s.Dir, "riverside-family", "ehr-prod.json")
	var st fhirRESTState
	other := ckID
	other.Type = TypeFHIRBulk
	if _, err := s.Load(other, &st); err == nil || !strings.Contains(err.Error(), "written by a fhir-rest puller") || Reason(err) != "checkpoint" {
		t.Errorf("type change: %v", err)
	}
	writeFile(t, p, "{not json")
	if _, err := s.Load(ckID, &st); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("corrupt: %v", err)
	}
	if err := s.Save(SourceID{Tenant: "../etc", Name: "x", Type: TypeFHIRREST}, st); err == nil {
		t.Errorf("a tenant name with a path in it was accepted")
	}
}
