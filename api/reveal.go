package api

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"encoding/json"
	"github.com/gin-gonic/gin"

	"github.com/phiwatch/phiwatch/api/route"
	"github.com/phiwatch/phiwatch/internal/audit"
	"github.com/phiwatch/phiwatch/internal/store"
)

const (
	maxBodyBytes    = 64 << 10
	minReasonRunes  = 5
	maxReasonRunes  = 1000
	maxPatientParam = 256
)

// RevealRequest is the body of POST …/patients/:patient/reveal.
type RevealRequest struct {
	Reason string `json:"reason"`
}

// RevealedPatient is what a reveal shows: enough to identify the patient,
// nothing more (no address, phones or emails).
type RevealedPatient struct {
	PatientID  string `json:"patient_id"`
	MRN        string `json:"mrn"`
	Name       string `json:"name"`
	GivenNames string `json:"given_names"`
	FamilyName string `json:"family_name"`
	BirthDate  string `json:"birth_date"` // YYYY-MM-DD, "" when unknown
}

// decodeJSON reads a bounded JSON body into v, refusing unknown fields and
// trailing data. It answers 400/413 itself and reports whether to go on.
func decodeJSON(c *gin.Context, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			problem(c, 413, fmt.Sprintf("the request body is larger than %d bytes", maxBodyBytes))
			return false
		}
		problem(c, 400, "the request body could not be read")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		problem(c, 400, "a JSON body is required")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		problem(c, 400, "the body is not the expected JSON object: "+jsonErrorDetail(err))
		return false
	}
	if dec.More() {
		problem(c, 400, "the body holds more than one JSON value")
		return false
	}
	return true
}

// jsonErrorDetail keeps decoder messages short and free of echoed input.
func jsonErrorDetail(err error) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return strings.ToValidUTF8(msg, "")
}

// reveal unmasks one patient for a caller who gives a reason. The entry in
// the audit trail is written before the answer; without it there is none.
func (s *server) reveal(c *gin.Context) {
	id := c.Param("patient")
	if id == "" || len(id) > maxPatientParam || !utf8.ValidString(id) {
		problem(c, 400, fmt.Sprintf("patient must be a patient id or reference of at most %d characters", maxPatientParam))
		return
	}
	var req RevealRequest
	if !decodeJSON(c, &req) {
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if n := utf8.RuneCountInString(req.Reason); n < minReasonRunes || n > maxReasonRunes {
		problem(c, 400, fmt.Sprintf(`reason is required: say why you need to see this patient (%d to %d characters), e.g. {"reason": "reviewing case 42: verifying the appointment"}`, minReasonRunes, maxReasonRunes))
		return
	}
	ctx := c.Request.Context()
	p, found, err := findPatient(ctx, route.Store(c), s.cfg.MaskKey, id)
	if err != nil {
		s.cfg.Log.Error("reveal patient", "tenant", route.Tenant(c), "err", err)
		problem(c, 500, "the patient could not be read; the error is in the server log")
		return
	}
	if !found {
		problem(c, 404, "no such patient in this tenant's patient demographics")
		return
	}
	if err := audit.Note(c, audit.ActionRevealPHI, p.PatientID, req.Reason); err != nil {
		s.cfg.Log.Error("audit reveal", "tenant", route.Tenant(c), "err", err)
		problem(c, 503, "the reveal could not be recorded in the audit trail, so it is refused; try again later")
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, p)
}

// findPatient reads a patient's current demographics by id or by the
// opaque reference list responses carry.
func findPatient(ctx context.Context, q *store.TenantStore, key []byte, id string) (RevealedPatient, bool, error) {
	match := "patient_id = {patient:String}"
	p := store.Params{"patient": id}
	if isRef(id) {
		match = refExpr("patient_id") + " = {patient:String}"
		p["mask_key"] = hex.EncodeToString(key)
	}
	var out []RevealedPatient
	err := q.Select(ctx, &out, fmt.Sprintf(`
SELECT patient_id, mrn, name, given_names, family_name, ifNull(toString(birth_date), '') AS birth_date
FROM %s.patients_current
WHERE tenant_id = {tenant:String} AND %s
ORDER BY patient_id
LIMIT 1`, q.Database(), match), p)
	if err != nil || len(out) == 0 {
		return RevealedPatient{}, false, err
	}
	return out[0], true, nil
}
