package mqtt

// Match tells whether topic name topic matches topic filter filter
// (§4.7): "+" matches one level, a final "#" the parent level and every
// level below it, and a filter that begins with a wildcard does not match
// a topic that begins with "$" (§4.7.2).
func Match(filter, topic []byte) bool {
	if len(topic) > 0 && topic[0] == '$' && len(filter) > 0 && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		f, fRest, fMore := level(filter)
		if len(f) == 1 && f[0] == '#' {
			return true
		}
		t, tRest, tMore := level(topic)
		if !(len(f) == 1 && f[0] == '+') && string(f) != string(t) {
			return false
		}
		switch {
		case !fMore && !tMore:
			return true
		case !tMore:
			// "a/#" matches "a": what is left of the filter is "#" alone.
			return len(fRest) == 1 && fRest[0] == '#'
		case !fMore:
			return false
		}
		filter, topic = fRest, tRest
	}
}

// level splits off the first level of a topic or filter.
func level(b []byte) (first, rest []byte, more bool) {
	for i, c := range b {
		if c == '/' {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}
