package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/x0tta6bl4/x0tta6bl4/node"
)

// repoFlag adds --repo to fs; its value resolves to the default repo.
func repoFlag(fs *flag.FlagSet) func() (string, error) {
	p := fs.String("repo", "", "repo dir (default $X0TTA6BL4_REPO, else ~/.x0tta6bl4)")
	return func() (string, error) {
		if *p != "" {
			return *p, nil
		}
		return node.DefaultRepoPath()
	}
}

func runInit(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("init")
	repoPath := repoFlag(fs)
	profile := fs.String("profile", node.ProfileLAN, "defaults to start from: lan, wan or local")
	if err := parse(fs, args); err != nil {
		return err
	}
	path, err := repoPath()
	if err != nil {
		return err
	}
	cfg, err := node.ProfileConfig(*profile)
	if err != nil {
		return usageError{err.Error()}
	}
	r, err := node.InitRepo(path, cfg)
	if err != nil {
		return err
	}
	key, err := r.Key()
	if err != nil {
		return err
	}
	hid, err := r.Identity(key)
	if err != nil {
		return err
	}
	fp := hid.PublicKeys().Fingerprint()
	fmt.Fprintf(e.stdout, "initialized %s\npeer ID %s\nfingerprint %x (of its hybrid signature keys, for [policy] pins)\n", path, hid.PeerID(), fp)
	printFounderSteps(e, path, hid.PeerID(), cfg)
	return nil
}

// printFounderSteps tells a new node's operator what to send and to whom:
// the peer ID, to the founders who write the genesis or to a member who
// proposes the admission.
func printFounderSteps(e *env, repo string, id peer.ID, cfg node.Config) {
	genesis := filepath.Join(repo, "genesis.toml")
	fmt.Fprintf(e.stdout, `api token %s (mode 0600; the CLI sends it with every request that changes something)

Membership: a node votes (and, in closed admission, connects at all) only
as a member listed in the network's genesis file or admitted by a vote.
Send your peer ID above to the others:
  - founding a network: one founder collects every founder's peer ID and runs
      x0tta6bl4 genesis --trust-domain %s --out %s %s <other founders' peer IDs>
    and sends the file to every founder;
  - joining one: a member runs
      x0tta6bl4 gov propose --title "admit %.16s…" --action admit:%s:100
    and the members vote; ask them for the network's genesis file.
Then put the genesis file in [governance] genesis of %s
(admission is %q: see [policy] in the README).
`, filepath.Join(repo, node.APITokenFile), cfg.TrustDomain, genesis, id, id, id, filepath.Join(repo, node.ConfigFile), cfg.Policy.Admission)
}

func runDaemon(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("daemon")
	repoPath := repoFlag(fs)
	var bootstrap, listen listFlag
	fs.Var(&bootstrap, "bootstrap", "bootstrap peer multiaddr ending in /p2p/<peer ID>, added to config.toml's (repeatable)")
	fs.Var(&listen, "listen", "listen multiaddr, replacing config.toml's listen_addrs (repeatable)")
	apiAddr := fs.String("api", "", "API host:port or unix:PATH, replacing config.toml's api_addr (port 0 picks one)")
	if err := parse(fs, args); err != nil {
		return err
	}
	path, err := repoPath()
	if err != nil {
		return err
	}
	repo, err := node.OpenRepo(path)
	if err != nil {
		return err
	}
	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	cfg.BootstrapPeers = append(cfg.BootstrapPeers, bootstrap...)
	if len(listen) > 0 {
		cfg.ListenAddrs = listen
	}
	if *apiAddr != "" {
		cfg.APIAddr = *apiAddr
	}
	key, err := repo.Key()
	if err != nil {
		return err
	}
	identity, err := repo.Identity(key)
	if err != nil {
		return err
	}
	token, err := repo.EnsureAPIToken()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: cfg.Level()}))
	quietLibp2p(e.stderr)
	store, err := repo.OpenDatastore(cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	n, err := node.New(cfg, node.Options{Key: key, Identity: identity, Datastore: store, Logger: log, APIToken: token})
	if err != nil {
		return err
	}
	defer n.Close()
	if err := n.Start(ctx); err != nil {
		return err
	}
	if a := n.APIAddr(); a != "" {
		if err := repo.WriteAPIAddr(a); err != nil {
			return err
		}
		defer repo.RemoveAPIAddr()
	}
	fmt.Fprintf(e.stdout, "peer ID %s\n", n.ID())
	for _, a := range n.Addrs() {
		fmt.Fprintf(e.stdout, "listening on %s\n", a)
	}
	fmt.Fprintf(e.stdout, "admission %s\n", cfg.Policy.Admission)
	if g := n.Governance(); g != nil {
		fmt.Fprintf(e.stdout, "governance genesis %s, %d tokens per vote\n", g.Genesis().ID(), g.Allocation())
	} else {
		fmt.Fprintln(e.stdout, "governance off: no genesis file ([governance] genesis; x0tta6bl4 genesis writes one); gov commands answer 503")
	}
	if a := n.APIAddr(); strings.HasPrefix(a, node.UnixAPIPrefix) {
		fmt.Fprintf(e.stdout, "api on %s\n", a)
	} else if a != "" {
		fmt.Fprintf(e.stdout, "api on http://%s\n", a)
	}
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// client finds the running daemon of the repo named by the flags, with
// the API token of the repo (which requests that change something need).
func client(repoPath func() (string, error)) (*node.Client, error) {
	path, err := repoPath()
	if err != nil {
		return nil, err
	}
	r, err := node.OpenRepo(path)
	if err != nil {
		return nil, err
	}
	addr, err := r.APIAddr()
	if err != nil {
		return nil, fmt.Errorf("%w (start it with x0tta6bl4 daemon)", err)
	}
	c := node.NewClient(addr)
	token, err := r.APIToken()
	switch {
	case err == nil:
		c = c.WithToken(token)
	case !errors.Is(err, node.ErrNoAPIToken):
		return nil, err
	}
	return c, nil
}

// showDaemon is a read-only command: --repo and --json flags, one call
// to the running daemon's API, then its answer as JSON or as text.
func showDaemon[T any](ctx context.Context, e *env, name, jsonUsage string, args []string,
	get func(*node.Client, context.Context) (T, error), text func(*env, T)) error {
	fs := e.newFlags(name)
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, jsonUsage)
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := client(repoPath)
	if err != nil {
		return err
	}
	body, err := get(c, ctx)
	if err != nil {
		return daemonError(err)
	}
	if *asJSON {
		return printJSON(e, body)
	}
	text(e, body)
	return nil
}

// daemonError adds a hint to an error talking to the daemon's API.
func daemonError(err error) error {
	var ae *node.APIError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (is the daemon still running?)", err)
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		return fmt.Errorf("%w (the CLI sends the token of the repo's %s: run it as the daemon's user, with the daemon's --repo)", err, node.APITokenFile)
	}
	return err
}

func printJSON(e *env, v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runID(ctx context.Context, e *env, args []string) error {
	fs := e.newFlags("id")
	repoPath := repoFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := client(repoPath)
	var body node.IDBody
	switch {
	case errors.Is(err, node.ErrNotRunning):
		// No daemon: the ID is still in the repo, the addresses are not.
		body, err = offlineID(repoPath)
	case err == nil:
		body, err = c.ID(ctx)
		if errors.Is(err, syscall.ECONNREFUSED) {
			// A daemon that died without removing its api file.
			body, err = offlineID(repoPath)
		}
	}
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(e, body)
	}
	fmt.Fprintln(e.stdout, body.ID)
	fmt.Fprintln(e.stdout, "fingerprint", body.Fingerprint)
	for _, a := range body.Addrs {
		fmt.Fprintln(e.stdout, a)
	}
	return nil
}

func offlineID(repoPath func() (string, error)) (node.IDBody, error) {
	path, err := repoPath()
	if err != nil {
		return node.IDBody{}, err
	}
	r, err := node.OpenRepo(path)
	if err != nil {
		return node.IDBody{}, err
	}
	key, err := r.Key()
	if err != nil {
		return node.IDBody{}, err
	}
	hid, err := r.Identity(key)
	if err != nil {
		return node.IDBody{}, err
	}
	fp := hid.PublicKeys().Fingerprint()
	return node.IDBody{ID: hid.PeerID().String(), Fingerprint: hex.EncodeToString(fp[:]), Addrs: []string{}, Agent: node.UserAgent, Protocols: []string{}}, nil
}

func runPeers(ctx context.Context, e *env, args []string) error {
	return showDaemon(ctx, e, "peers", "print JSON", args, (*node.Client).Peers, printPeers)
}

func printPeers(e *env, body node.PeersBody) {
	for _, p := range body.Peers {
		var links []string
		for _, l := range p.Links {
			s := l.Addr
			if l.Security != nil && l.Security.KeyExchange != "" {
				s += " (" + l.Security.KeyExchange + ")"
			}
			links = append(links, s)
		}
		fmt.Fprintf(e.stdout, "%s  %s\n", p.ID, strings.Join(links, ", "))
	}
	fmt.Fprintf(e.stdout, "%d peers\n", body.Count)
}
