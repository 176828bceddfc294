package node

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	record "github.com/libp2p/go-libp2p-record"
)

// Validator checks and orders the DHT records of one namespace. Validate
// rejects a value that must not be stored or returned for key; Select picks
// the best of several valid values (the index into values). Both are
// called concurrently from DHT goroutines and must not block.
type Validator interface {
	Validate(key string, value []byte) error
	Select(key string, values [][]byte) (int, error)
}

// ErrUnknownNamespace is returned for a DHT key whose namespace nobody
// registered; such records are neither stored nor accepted.
var ErrUnknownNamespace = errors.New("node: unknown DHT namespace")

// ErrNamespaceTaken is returned when a namespace is registered twice.
var ErrNamespaceTaken = errors.New("node: DHT namespace already registered")

// namespaces is the DHT's record validator: keys are /<namespace>/<rest>
// and each namespace has its own Validator. Unlike
// record.NamespacedValidator it can grow after the DHT is built.
type namespaces struct {
	mu sync.RWMutex
	m  map[string]Validator
}

var _ record.Validator = (*namespaces)(nil)

func newNamespaces() *namespaces {
	return &namespaces{m: map[string]Validator{
		// Public keys of peers whose IDs do not embed them.
		"pk": record.PublicKeyValidator{},
	}}
}

func (n *namespaces) register(ns string, v Validator) error {
	if ns == "" || strings.Contains(ns, "/") {
		return fmt.Errorf("register namespace %q: must be non-empty and contain no slash", ns)
	}
	if v == nil {
		return fmt.Errorf("register namespace %q: nil validator", ns)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.m[ns]; ok {
		return fmt.Errorf("register namespace %q: %w", ns, ErrNamespaceTaken)
	}
	n.m[ns] = v
	return nil
}

func (n *namespaces) lookup(key string) (Validator, error) {
	ns, _, err := record.SplitKey(key)
	if err != nil {
		return nil, fmt.Errorf("dht key %q: %w", key, ErrUnknownNamespace)
	}
	n.mu.RLock()
	v, ok := n.m[ns]
	n.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("namespace %q: %w", ns, ErrUnknownNamespace)
	}
	return v, nil
}

// Validate implements record.Validator.
func (n *namespaces) Validate(key string, value []byte) error {
	v, err := n.lookup(key)
	if err != nil {
		return err
	}
	return v.Validate(key, value)
}

// Select implements record.Validator.
func (n *namespaces) Select(key string, values [][]byte) (int, error) {
	v, err := n.lookup(key)
	if err != nil {
		return 0, err
	}
	return v.Select(key, values)
}
