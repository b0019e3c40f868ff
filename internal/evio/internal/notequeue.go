// Copyright 2018 Joshua J Baker. All rights reserved.
// Use of this source code is governed by an MIT-style
// license that can be found in the LICENSE file.

package internal

import (
	"errors"
	"sync"
)

// ErrClosed is what Trigger returns once its Poll is closed.
var ErrClosed = errors.New("evio: poll closed")

// noteQueue holds the notes Trigger sends a loop. Its lock also orders
// every wake-up against closing the Poll: once closed, no wake-up touches
// the Poll's descriptors, whose numbers the process may by then have given
// to other files (a wake-up written to a reused eventfd number lands as 8
// bytes in somebody's socket).
type noteQueue struct {
	mu     sync.Mutex
	notes  []interface{}
	closed bool
}

// Add queues note and, when it is the first since the notes were last
// taken (ForEach), runs wake, both under the lock, unless the queue is
// closed (then it returns ErrClosed and queues nothing). The later notes
// ride on that wake-up: a Wait takes all the notes queued when it acts on
// a wake-up, so one write wakes the loop for a whole burst of Triggers.
func (q *noteQueue) Add(note interface{}, wake func() error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	q.notes = append(q.notes, note)
	if len(q.notes) > 1 {
		return nil
	}
	return wake()
}

// Close marks the queue closed and runs release (which closes the Poll's
// descriptors) under the lock, so no Add's wake runs after it.
func (q *noteQueue) Close(release func() error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	q.closed = true
	return release()
}

func (q *noteQueue) ForEach(iter func(note interface{}) error) error {
	q.mu.Lock()
	if len(q.notes) == 0 {
		q.mu.Unlock()
		return nil
	}
	notes := q.notes
	q.notes = nil
	q.mu.Unlock()
	for _, note := range notes {
		if err := iter(note); err != nil {
			return err
		}
	}
	q.mu.Lock()
	if q.notes == nil {
		for i := range notes {
			notes[i] = nil
		}
		q.notes = notes[:0]
	}
	q.mu.Unlock()
	return nil
}
