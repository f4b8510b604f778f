package claims

import "slices"

// MergeInto adds rendered custom claims (custom session claims, say) to
// dst without replacing any claim already there: the reserved and
// standard claims a token already has win. It never adds a Reserved
// claim. It returns the names it skipped, sorted. dst must not be nil.
func MergeInto(dst map[string]any, custom map[string]any) (skipped []string) {
	for k, v := range custom {
		if _, taken := dst[k]; taken || isReserved(k) {
			skipped = append(skipped, k)
			continue
		}
		dst[k] = v
	}
	slices.Sort(skipped)
	return skipped
}
