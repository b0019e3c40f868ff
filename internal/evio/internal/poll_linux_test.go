package internal

import (
	"errors"
	"syscall"
	"testing"
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
