package pull

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/phiwatch/phiwatch/internal/event"
)

// FileStore keeps one JSON file per source under Dir: DIR/<tenant>/<source>.json.
// A checkpoint is replaced atomically (temp file, fsync, rename, fsync of
// the directory), so after a crash the file holds either the old or the new
// checkpoint, never a mix; a torn temp file is ignored and cleaned up by
// the next Save. Only one process may use a state directory at a time.
type FileStore struct {
	Dir string
	Now func() time.Time // stamps updated_at; default time.Now
}

// checkpointVersion is bumped when the envelope changes incompatibly.
const checkpointVersion = 1

// envelope wraps a puller's state with what identifies it, so a checkpoint
// copied to the wrong place or left over from another source type is
// refused rather than misread.
type envelope struct {
	Version   int             `json:"version"`
	Tenant    string          `json:"tenant"`
	Source    string          `json:"source"`
	Type      string          `json:"type"`
	UpdatedAt time.Time       `json:"updated_at"`
	State     json.RawMessage `json:"state"`
}

// NewFileStore creates dir (mode 0700: checkpoints hold export status URLs,
// which some servers treat as capabilities) and returns a store on it.
func NewFileStore(dir string) (*FileStore, error) {
	if dir == "" {
		return nil, errors.New("a state directory is required to keep the pullers' checkpoints (--state-dir)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	return &FileStore{Dir: dir}, nil
}

// path returns the checkpoint file of id. Tenant and source names are
// validated by the config, but are checked again here because they become
// path elements.
func (s *FileStore) path(id SourceID) (string, error) {
	if !event.ValidTenant(id.Tenant) || !event.ValidTenant(id.Name) {
		return "", fmt.Errorf("checkpoint for %q/%q: tenant and source names must be 1-64 characters of a-z, 0-9, '-' or '_'", id.Tenant, id.Name)
	}
	return filepath.Join(s.Dir, id.Tenant, id.Name+".json"), nil
}

// Load implements Checkpoints.
func (s *FileStore) Load(id SourceID, state any) (bool, error) {
	p, err := s.path(id)
	if err != nil {
		return false, withReason("checkpoint", err)
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, withReason("checkpoint", fmt.Errorf("read checkpoint: %w", err))
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&env); err != nil {
		return false, withReason("checkpoint", fmt.Errorf("checkpoint %s is unreadable (%v); fix or delete it (deleting re-pulls from the initial lookback)", p, err))
	}
	switch {
	case env.Version != checkpointVersion:
		return false, withReason("checkpoint", fmt.Errorf("checkpoint %s has version %d; this phiwatch reads version %d", p, env.Version, checkpointVersion))
	case env.Tenant != id.Tenant || env.Source != id.Name:
		return false, withReason("checkpoint", fmt.Errorf("checkpoint %s belongs to %s/%s, not %s", p, env.Tenant, env.Source, id))
	case env.Type != id.Type:
		return false, withReason("checkpoint", fmt.Errorf("checkpoint %s was written by a %s puller but %s is now configured as %s; move the file away to start this source afresh", p, env.Type, id, id.Type))
	}
	if err := json.Unmarshal(env.State, state); err != nil {
		return false, withReason("checkpoint", fmt.Errorf("checkpoint %s: state is unreadable (%v); fix or delete it", p, err))
	}
	return true, nil
}

// Save implements Checkpoints.
func (s *FileStore) Save(id SourceID, state any) error {
	if err := s.save(id, state); err != nil {
		return withReason("checkpoint", err)
	}
	return nil
}

func (s *FileStore) save(id SourceID, state any) error {
	p, err := s.path(id)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("encode checkpoint of %s: %w", id, err)
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	data, err := json.MarshalIndent(envelope{Version: checkpointVersion, Tenant: id.Tenant, Source: id.Name, Type: id.Type,
		UpdatedAt: now().UTC(), State: raw}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoint of %s: %w", id, err)
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	base := filepath.Base(p)
	removeStaleTemps(dir, base)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", p, err)
	}
	// fsync before rename: otherwise a power loss can leave the new name
	// pointing at an empty file.
	if err := f.Sync(); err != nil {
		return fmt.Errorf("save checkpoint %s: fsync: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", p, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", p, err)
	}
	ok = true
	// fsync the directory so the rename itself survives a power loss.
	if d, err := os.Open(dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("save checkpoint %s: fsync directory: %w", p, err)
		}
	}
	return nil
}

// removeStaleTemps deletes temp files a crash left behind for base.
func removeStaleTemps(dir, base string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	prefix := "." + base + ".tmp-"
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
