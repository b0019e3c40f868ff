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
	p := OpenPoll(0)
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

// With a batch window, a busy loop wakes about once per window however
// often bytes arrive (signals end a sleep early now and then): 200
// single-byte writes 1 ms apart reach a loop with a 50 ms window in a few
// dozen wake-ups at most, every byte read.
func TestBatchGathersArrivals(t *testing.T) {
	p := OpenPoll(50 * time.Millisecond)
	defer p.Close()
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	p.AddRead(fds[0])
	const writes = 200
	go func() {
		for i := 0; i < writes; i++ {
			syscall.Write(fds[1], []byte{1})
			time.Sleep(time.Millisecond)
		}
	}()
	errDone := errors.New("done")
	var got, wakeups int
	deadline := time.Now().Add(10 * time.Second)
	err := p.Wait(func(fd int, _ interface{}) error {
		if fd != fds[0] {
			return nil
		}
		wakeups++
		var buf [writes]byte
		if n, _ := syscall.Read(fd, buf[:]); n > 0 {
			got += n
		}
		if got == writes || time.Now().After(deadline) {
			return errDone
		}
		return nil
	})
	if err != errDone || got != writes {
		t.Fatalf("read %d of %d bytes (%v)", got, writes, err)
	}
	// 200 writes over ≥ 200 ms: ≥ 4 windows; a loop that woke per write
	// would wake up to 200 times.
	if wakeups > 40 {
		t.Errorf("%d wake-ups for %d writes with a 50 ms window, want about one per window", wakeups, writes)
	}
	t.Logf("%d wake-ups", wakeups)
}
