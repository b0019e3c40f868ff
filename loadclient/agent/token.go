package agent

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
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
	token, err = readTokenFile(path, "or delete it and the agent writes a new one")
	switch {
	case err == nil:
		return token, false, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, err
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
	t, err := readTokenFile(path, "or copy the token file from an agent: it writes one on first start")
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%w (copy the agents' token file from an agent: it writes one on first start)", err)
	}
	return t, err
}

// MinTokenLen is the shortest token a token file may hold: 32 characters,
// 128 bits as hex. A generated token has 64.
const MinTokenLen = 32

// readTokenFile reads a token file and refuses one that others may read
// (privateFile) or whose token is shorter than MinTokenLen; orFix ends the
// error with the other way out. A missing file is an fs.ErrNotExist.
func readTokenFile(path, orFix string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read the token file: %w", err)
	}
	defer f.Close()
	if err := privateFile(f, path); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("cannot read the token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if len(token) < MinTokenLen {
		return "", fmt.Errorf("token file %s holds a %d-character token, fewer than %d: put a long random secret in it (openssl rand -hex 32 > %s), %s",
			path, len(token), MinTokenLen, path, orFix)
	}
	return token, nil
}
