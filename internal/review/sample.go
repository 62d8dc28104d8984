package review

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// SampleMethod describes the sample for the period record and the report,
// so an auditor can re-draw it from the seed alone.
const SampleMethod = "unflagged EHR patient accesses of the month (source_kind = ehr, a patient id, no alert's evidence), " +
	"ordered by lower-case hex SHA-256 of seed + \":\" + event_id (then event_id), first N"

// SampleKey is an access's place in the sample order: the hex SHA-256 of
// the seed, a colon and the event id. The same SQL expression,
// lower(hex(SHA256(concat(seed, ':', event_id)))), draws the sample in
// ClickHouse; this function re-draws it anywhere else.
func SampleKey(seed, eventID string) string {
	h := sha256.Sum256([]byte(seed + ":" + eventID))
	return hex.EncodeToString(h[:])
}

// DrawSample picks n of the event ids: those with the lowest SampleKey.
// The same seed and ids give the same sample whatever their order.
func DrawSample(seed string, eventIDs []string, n int) []string {
	type keyed struct{ key, id string }
	ks := make([]keyed, 0, len(eventIDs))
	seen := make(map[string]bool, len(eventIDs))
	for _, id := range eventIDs {
		if seen[id] {
			continue
		}
		seen[id] = true
		ks = append(ks, keyed{SampleKey(seed, id), id})
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].key != ks[j].key {
			return ks[i].key < ks[j].key
		}
		return ks[i].id < ks[j].id
	})
	if n > len(ks) {
		n = len(ks)
	}
	out := make([]string, 0, max(n, 0))
	for _, k := range ks[:max(n, 0)] {
		out = append(out, k.id)
	}
	return out
}

// NewSeed is a fresh random seed (128 bits, hex): drawn once per period
// and recorded on it.
func NewSeed() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// ItemID is an item's stable id: the same period, kind and reference give
// the same id, so re-opening an interrupted period rewrites the same items.
func ItemID(tenant, period, kind, ref string) string {
	h := sha256.Sum256([]byte(tenant + "\x00" + period + "\x00" + kind + "\x00" + ref))
	return "ri-" + hex.EncodeToString(h[:10])
}
