package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"sort"
)

// encodeSealed packs field ciphertexts into one column: a count, then for each field (in name
// order, so equal maps encode alike) its name and ciphertext, each length-prefixed.
func encodeSealed(m map[string][]byte) []byte {
	names := make([]string, 0, len(m))
	size := 4
	for k, v := range m {
		names = append(names, k)
		size += len(k) + len(v) + 8
	}
	sort.Strings(names)
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(m[k])))
		b = append(b, m[k]...)
	}
	return b
}

var errCorrupt = errors.New("corrupt sealed column")

func decodeSealed(b []byte) (map[string][]byte, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > 10000 {
		return nil, errCorrupt
	}
	b = b[k:]
	m := make(map[string][]byte, n)
	for i := uint64(0); i < n; i++ {
		name, rest, err := chunk(b)
		if err != nil {
			return nil, err
		}
		ct, rest, err := chunk(rest)
		if err != nil {
			return nil, err
		}
		m[string(name)] = ct
		b = rest
	}
	return m, nil
}

func chunk(b []byte) ([]byte, []byte, error) {
	l, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < l {
		return nil, nil, errCorrupt
	}
	return b[k : k+int(l)], b[k+int(l):], nil
}

func encodeList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func decodeList(s string) []string {
	var l []string
	_ = json.Unmarshal([]byte(s), &l)
	return l
}

func encodePlain(m map[string]json.RawMessage) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func decodePlain(s string) (map[string]json.RawMessage, error) {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, errCorrupt
	}
	return m, nil
}
