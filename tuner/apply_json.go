package tuner

import (
	"encoding/json"
	"io"
)

// applyJSON is ApplyResult for scripts, with the keys of `tune check --json`.
type applyJSON struct {
	OK           bool     `json:"ok"` // the host now satisfies the target
	Changed      []string `json:"changed"`
	Failed       []string `json:"failed"` // each with its fix
	Skipped      []Row    `json:"skipped"`
	Warnings     []string `json:"warnings"`
	Snapshot     string   `json:"snapshot,omitempty"`
	KeptSnapshot bool     `json:"kept_snapshot"`
	Before       *Report  `json:"before"`
	After        *Report  `json:"after"`
}

// WriteJSON writes what apply did as indented JSON (`tune apply --json`).
func (r *ApplyResult) WriteJSON(w io.Writer) error {
	out := applyJSON{OK: r.ExitCode() == 0, Changed: nonNil(r.Changed), Failed: []string{}, Skipped: r.Skipped,
		Warnings: nonNil(r.Warnings), Snapshot: r.Snapshot, KeptSnapshot: r.KeptSnapshot, Before: r.Before, After: r.After}
	for _, err := range r.Failed {
		out.Failed = append(out.Failed, err.Error())
	}
	if out.Skipped == nil {
		out.Skipped = []Row{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
