//go:build !linux

package bench

import (
	"context"

	"github.com/imtool/imtool/internal/stats"
)

// rawDial has no raw epoll dialer to measure with on this OS: the record
// then has no raw_dial and the report no comparison.
func rawDial(context.Context, *services, []uint16, int) (*stats.RawDial, error) { return nil, nil }
