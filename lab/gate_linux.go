package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// gateRate bounds the probes per second over all directions at once, and
// per direction.
const (
	gateRate    = 5_000
	gateDirRate = 500
)

// runGate sends probes across every link both ways and judges the
// shaping. It runs before the daemons start, on idle links.
func runGate(ctx context.Context, nw *network) Shaping {
	start := time.Now()
	before, okBefore := readCPUTimes()
	dirs, errs := probeLinks(ctx, nw)
	s := judge(dirs)
	if after, ok := readCPUTimes(); ok && okBefore {
		s.HostSteal = stealShare(before, after)
	}
	for _, err := range errs {
		s.Failures = append(s.Failures, err.Error())
		s.OK = false
	}
	s.Seconds = time.Since(start).Seconds()
	return s
}

// probeLinks sends the gate's probes across every link both ways, all
// directions at once, and returns what each direction found.
func probeLinks(ctx context.Context, nw *network) ([]direction, []error) {
	type job struct {
		from, to int
		src, dst *end
	}
	var jobs []job
	for k, l := range nw.top.Links {
		var ea, eb *end
		for _, e := range nw.ends[l.A] {
			if e.link == k {
				ea = e
			}
		}
		for _, e := range nw.ends[l.B] {
			if e.link == k {
				eb = e
			}
		}
		jobs = append(jobs, job{l.A, l.B, ea, eb}, job{l.B, l.A, eb, ea})
	}
	var loss float64
	for _, j := range jobs {
		loss = max(loss, j.src.shape.Loss)
	}
	n := probeCount(loss, len(jobs))
	rate := min(gateDirRate, max(1, gateRate/len(jobs)))
	interval := time.Second / time.Duration(rate)
	dirs := make([]direction, len(jobs))
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := probeDirection(ctx, nw, j.from, j.to, j.src, j.dst, n, interval)
			mu.Lock()
			defer mu.Unlock()
			dirs[i] = d
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return dirs, errs
}

// probeDirection sends n probes from node from's end src to node to's
// end dst, one per interval, and collects their one-way delays.
func probeDirection(ctx context.Context, nw *network, from, to int, src, dst *end, n int, interval time.Duration) (direction, error) {
	d := direction{from: from, to: to, set: src.shape}
	var rx, tx *net.UDPConn
	err := inNamespace(nw.files[to], func() (err error) {
		rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: dst.addr.AsSlice()})
		return err
	})
	if err != nil {
		return d, fmt.Errorf("probe %d→%d: listen: %w", from, to, err)
	}
	defer rx.Close()
	if err := rxTimestamps(rx); err != nil {
		return d, fmt.Errorf("probe %d→%d: %w", from, to, err)
	}
	err = inNamespace(nw.files[from], func() (err error) {
		tx, err = net.DialUDP("udp4", &net.UDPAddr{IP: src.addr.AsSlice()}, rx.LocalAddr().(*net.UDPAddr))
		return err
	})
	if err != nil {
		return d, fmt.Errorf("probe %d→%d: dial: %w", from, to, err)
	}
	defer tx.Close()

	d.sentAt, d.arrivedAt = make([]time.Time, n), make([]time.Time, n)
	got := make(chan []time.Duration, 1)
	go func() {
		var delays []time.Duration
		seen := make([]bool, n)
		buf := make([]byte, 64)
		oob := make([]byte, 128)
		for len(delays) < n {
			k, oobn, _, _, err := rx.ReadMsgUDP(buf, oob)
			if err != nil {
				break
			}
			seq, sent, err := decodeProbe(buf[:k])
			at, ok := rxTime(oob[:oobn])
			if err != nil || !ok || seq >= uint64(n) || seen[seq] {
				continue
			}
			seen[seq] = true
			d.arrivedAt[seq] = at
			delays = append(delays, at.Sub(sent))
		}
		got <- delays
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var payload []byte
	for seq := range n {
		d.sentAt[seq] = time.Now()
		payload = encodeProbe(payload[:0], uint64(seq), d.sentAt[seq])
		if _, err := tx.Write(payload); err != nil && !errors.Is(err, unix.EPERM) {
			// EPERM is the loss rule's drop, seen by the sender.
			return d, fmt.Errorf("probe %d→%d: send: %w", from, to, err)
		}
		d.sent++
		select {
		case <-tick.C:
		case <-ctx.Done():
			rx.SetReadDeadline(time.Now())
			<-got
			return d, ctx.Err()
		}
	}
	rx.SetReadDeadline(time.Now().Add(src.shape.Delay + src.shape.Jitter + time.Second))
	d.delays = <-got
	return d, nil
}

// rxTimestamps asks the kernel to stamp each datagram as it arrives.
func rxTimestamps(c *net.UDPConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}

// rxTime reads the kernel's receive timestamp out of a datagram's
// control messages.
func rxTime(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
			// struct timespec: two 64-bit words in the host's order.
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}

// readCPUTimes reads the host's CPU times from /proc/stat.
func readCPUTimes() (cpuTimes, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseCPUTimes(line)
}
