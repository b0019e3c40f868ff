package internal

import (
	"errors"
	"syscall"
	"testing"
	"time"
)

// A Trigger after Close writes nothing, even when the wake fd's number has
// been given to another file: a conn's Wake after its server stopped once
// put 8 bytes (01 00 00 00 …) into an unrelated socket that reused it.
func TestTriggerAfterCloseTouchesNothing(t *testing.T) {
	p := OpenPoll()
	wfd := p.wfd
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Another file takes the wake fd's number: a pipe's write end.
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fds[0]); syscall.Close(fds[1]) })
	if fds[1] != wfd { // it usually gets it by itself: fds are given lowest first
		if err := syscall.Dup3(fds[1], wfd, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Close(wfd) })
	}
	if err := p.Trigger("late"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Trigger after Close: %v, want ErrClosed", err)
	}
	var buf [8]byte
	if n, err := syscall.Read(fds[0], buf[:]); err != syscall.EAGAIN {
		t.Fatalf("the file that reused fd %d got %d bytes % x (err %v)", wfd, n, buf[:max(n, 0)], err)
	}
	if err := p.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v, want ErrClosed", err)
	}
}

// A note queued while the loop is acting on notes is seen without any
// other event: the wait has no timeout here, so a wake-up lost between
// taking the notes and reading the eventfd would leave "B" waiting for
// ever (it did when the notes were taken before the eventfd was read).
// A burst of Triggers from another goroutine arrives whole and in order.
func TestTriggerDuringNotesWakes(t *testing.T) {
	p := OpenPoll()
	p.idleWait = -1
	t.Cleanup(func() { p.Close() })
	const burst = 1000
	got := make(chan interface{}, burst+2)
	stop := errors.New("stop")
	done := make(chan error, 1)
	go func() {
		done <- p.Wait(false, func(fd int, note interface{}) error {
			if fd != 0 {
				return nil
			}
			got <- note
			switch note {
			case "A":
				return p.Trigger("B")
			case burst - 1:
				return stop
			}
			return nil
		}, nil)
	}()
	if err := p.Trigger("A"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"A", "B"} {
		select {
		case n := <-got:
			if n != want {
				t.Fatalf("note %v, want %v", n, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("note %q never reached the loop: its wake-up was lost", want)
		}
	}
	go func() {
		for i := 0; i < burst; i++ {
			p.Trigger(i)
		}
	}()
	for i := 0; i < burst; i++ {
		select {
		case n := <-got:
			if n != i {
				t.Fatalf("burst note %v, want %d", n, i)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("burst note %d never reached the loop (a wake-up was lost)", i)
		}
	}
	if err := <-done; err != stop {
		t.Fatalf("Wait ended with %v", err)
	}
}
