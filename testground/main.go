package main

import "github.com/testground/sdk-go/run"

func main() {
	run.InvokeMap(map[string]interface{}{
		"mesh-heal":  meshHeal,
		"gossip":     gossip,
		"governance": governanceCase,
	})
}
