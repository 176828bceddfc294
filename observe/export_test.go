package observe

// MarkDirtyForBench marks k nodes changed, as k new messages would.
func (w *Watch) MarkDirtyForBench(k int) {
	for a := range w.nodes {
		if k == 0 {
			return
		}
		w.dirty[a] = struct{}{}
		k--
	}
}
