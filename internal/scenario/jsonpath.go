package scenario

// jsonFind returns the raw JSON value at path in data (an object or array
// at the top, with spaces allowed around tokens): a string without its
// quotes (escapes left as they are), any other value as its text. Keys
// match exactly; a path element of digits indexes an array. It allocates
// nothing and never reads past data.
func jsonFind(data []byte, path []string) ([]byte, bool) {
	i := skipSpace(data, 0)
	for _, key := range path {
		if i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case '{':
			j, ok := objectMember(data, i, key)
			if !ok {
				return nil, false
			}
			i = j
		case '[':
			idx, ok := index(key)
			if !ok {
				return nil, false
			}
			j, ok := arrayElement(data, i, idx)
			if !ok {
				return nil, false
			}
			i = j
		default:
			return nil, false
		}
	}
	end, ok := skipValue(data, i)
	if !ok {
		return nil, false
	}
	if data[i] == '"' {
		return data[i+1 : end-1], true
	}
	return data[i:end], true
}

// objectMember is where the value of key begins in the object at i.
func objectMember(data []byte, i int, key string) (int, bool) {
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] != '}' {
		if data[i] != '"' {
			return 0, false
		}
		kend, ok := skipString(data, i)
		if !ok {
			return 0, false
		}
		match := string(data[i+1:kend-1]) == key // compiled without allocating
		i = skipSpace(data, kend)
		if i >= len(data) || data[i] != ':' {
			return 0, false
		}
		i = skipSpace(data, i+1)
		if match {
			return i, i < len(data)
		}
		if i, ok = nextMember(data, i); !ok {
			return 0, false
		}
	}
	return 0, false
}

// arrayElement is where element n of the array at i begins.
func arrayElement(data []byte, i, n int) (int, bool) {
	i = skipSpace(data, i+1)
	for k := 0; i < len(data) && data[i] != ']'; k++ {
		if k == n {
			return i, true
		}
		var ok bool
		if i, ok = nextMember(data, i); !ok {
			return 0, false
		}
	}
	return 0, false
}

// nextMember is where the member after the value at i begins: past the
// value, and the comma after it.
func nextMember(data []byte, i int) (int, bool) {
	i, ok := skipValue(data, i)
	if !ok {
		return 0, false
	}
	i = skipSpace(data, i)
	if i < len(data) && data[i] == ',' {
		i = skipSpace(data, i+1)
	}
	return i, true
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString is the index after the string that starts at i.
func skipString(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue is the index after the value that starts at i, nested
// containers included (at most 64 deep).
func skipValue(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				e, ok := skipString(data, j)
				if !ok {
					return 0, false
				}
				j = e - 1
			case '{', '[':
				depth++
				if depth > 64 {
					return 0, false
				}
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(data) {
		c := data[j]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		j++
	}
	return j, j > i
}

// index reads a path element as an array index.
func index(key string) (int, bool) {
	if key == "" || len(key) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(key); i++ {
		if key[i] < '0' || key[i] > '9' {
			return 0, false
		}
		n = n*10 + int(key[i]-'0')
	}
	return n, true
}
