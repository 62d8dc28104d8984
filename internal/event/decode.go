package event

import (
	"bytes"
	stdjson "encoding/json"
	"errors"

	// goccy/go-json decodes events about 3x faster than encoding/json, which
	// matters on ingest's and the loader's hot paths. It is lenient about some
	// malformed input, so encoding/json's validator decides what is JSON;
	// FuzzNative checks the two decoders agree.
	json "github.com/goccy/go-json"
)

// Decode reads one event from JSON. With strict, fields outside the event
// model are an error (input from outside phiwatch); without, they are ignored
// (messages from a newer phiwatch on the bus).
func Decode(data []byte, strict bool) (Event, error) {
	var e Event
	if !stdjson.Valid(data) {
		// The slow path names the problem and its position.
		err := stdjson.Unmarshal(data, &e)
		if err == nil {
			err = errors.New("invalid JSON")
		}
		return e, err
	}
	if !strict {
		return e, json.Unmarshal(data, &e)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, err
	}
	if dec.More() {
		return e, errors.New("trailing data after the JSON object")
	}
	return e, nil
}
