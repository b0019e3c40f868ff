package wire

// Frames is the stream framing of the protocol, for every reader of a
// byte stream (the gateway's sessions, the swarm on any transport): it
// calls each for every whole frame at the start of buf, in order, until
// each returns false. used is the length of the frames handled, so the
// rest (the start of a frame) waits for more input; stopped says each
// ended it; err is the first malformed frame, after the good ones before
// it were handled. The frame goes by value (by pointer, to a function
// unknown here, it would be moved to the heap): Frames allocates nothing,
// and the frame's byte fields alias buf.
func Frames(buf []byte, max int, each func(f Frame) bool) (used int, stopped bool, err error) {
	for used < len(buf) {
		f, n, err := Decode(buf[used:], max)
		if err != nil {
			return used, false, err
		}
		if n == 0 {
			break
		}
		used += n
		if !each(f) {
			return used, true, nil
		}
	}
	return used, false, nil
}
