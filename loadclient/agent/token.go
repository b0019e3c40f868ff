package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadOrCreateToken reads the shared token from path. When the file does not
// exist it writes a new random token there, readable by its owner only
// (0600), and reports created, so the agent can say where it is.
func LoadOrCreateToken(path string) (token string, created bool, err error) {
	if path == "" {
		return "", false, errors.New("--token-file is required: the control API only obeys requests that carry the token")
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		token = strings.TrimSpace(string(b))
		if token == "" {
			return "", false, fmt.Errorf("token file %s is empty: put a secret in it, or delete it and the agent writes a new one", path)
		}
		return token, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("cannot read the token file: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", false, fmt.Errorf("cannot generate a token: %w", err)
	}
	token = hex.EncodeToString(raw)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", false, fmt.Errorf("cannot create the token file's directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("cannot write a new token file: %w", err)
	}
	_, err = f.WriteString(token + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", false, fmt.Errorf("cannot write a new token file: %w", err)
	}
	return token, true, nil
}

// ReadToken reads the token a coordinator sends; unlike LoadOrCreateToken
// it never creates one.
func ReadToken(path string) (string, error) {
	if path == "" {
		return "", errors.New("--token-file is required with --agents: copy the token file from an agent (it writes one on first start)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the agents' token: %w (copy it from an agent: it writes one on first start)", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("token file %s is empty: copy the token from an agent's --token-file", path)
	}
	return t, nil
}
