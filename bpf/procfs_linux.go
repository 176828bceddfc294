//go:build linux

package bpf

import (
	"fmt"
	"os"
	"runtime"

	"github.com/prometheus/procfs"
	"golang.org/x/sys/unix"
)

// sockDiag is a NETLINK_SOCK_DIAG socket. The kernel answers about the
// network namespace the socket was created in.
type sockDiag struct {
	fd  int
	seq uint32
	buf []byte
}

// openSockDiag opens the netlink socket in the calling thread's namespace.
func openSockDiag() (*sockDiag, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open sock_diag socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind sock_diag socket: %w", err)
	}
	return &sockDiag{fd: fd, buf: make([]byte, 64<<10)}, nil
}

// dump asks for every socket of family and protocol in states and calls fn
// for each.
func (d *sockDiag) dump(family, protocol, ext uint8, states uint32, fn func(*diagSocket)) error {
	d.seq++
	req := diagRequest(family, protocol, ext, states, d.seq)
	if err := unix.Sendto(d.fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send sock_diag request: %w", err)
	}
	for {
		n, _, err := unix.Recvfrom(d.fd, d.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("read sock_diag answer: %w", err)
		}
		done, err := parseDiag(d.buf[:n], fn)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func (d *sockDiag) close() error { return unix.Close(d.fd) }

// procfsSource reads sockets through sock_diag and the namespace's
// counters through /proc/<pid>/net.
type procfsSource struct {
	diag *sockDiag
	proc procfs.Proc
	ns   uint64
}

var _ source = (*procfsSource)(nil)

func newProcfsSource(procPath string, ns NetNS) (*procfsSource, error) {
	fs, err := procfs.NewFS(procPath)
	if err != nil {
		return nil, fmt.Errorf("open procfs: %w", err)
	}
	proc, err := fs.Proc(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("open /proc entry of this process: %w", err)
	}
	d, err := openSockDiag()
	if err != nil {
		return nil, err
	}
	return &procfsSource{diag: d, proc: proc, ns: ns.Cookie}, nil
}

func (s *procfsSource) name() string { return SourceProcfs }

// unavailable lists what sock_diag and /proc do not give: per-flow UDP
// byte and datagram counts (the namespace's datagram totals are there),
// cumulative lost segments, drop reasons per packet (namespace counters and
// each socket's drop count stand in), and sockets that opened and closed
// between two readings.
func (s *procfsSource) unavailable() []string {
	return []string{"udp.bytes", "udp.packets", "tcp.lost", "drops.per_packet_reason", "short_lived_sockets"}
}

func (s *procfsSource) close() error { return s.diag.close() }

func (s *procfsSource) observe(obs *observation) error {
	for _, family := range []uint8{afInet, afInet6} {
		err := s.diag.dump(family, protoTCP, diagExtTCP, tcpDiagStates, func(d *diagSocket) {
			if !d.remote.IsValid() || !d.hasTCP {
				return
			}
			obs.tcp = append(obs.tcp, tcpSample{
				cookie:        d.cookie,
				netns:         s.ns,
				local:         d.local,
				remote:        d.remote,
				srttMicros:    d.tcp.rtt,
				rttvarMicros:  d.tcp.rttvar,
				totalRetrans:  uint64(d.tcp.totalRetrans),
				segsIn:        uint64(d.tcp.segsIn),
				segsOut:       uint64(d.tcp.segsOut),
				bytesSent:     d.tcp.bytesSent,
				bytesRetrans:  d.tcp.bytesRetrans,
				bytesAcked:    d.tcp.bytesAcked,
				bytesReceived: d.tcp.bytesReceived,
			})
			if d.hasMem {
				obs.drops = append(obs.drops, dropSample{
					netns: s.ns, proto: protoTCP, local: d.local, remote: d.remote,
					reason: "SOCKET", count: uint64(d.drops), cookie: d.cookie,
				})
			}
		})
		if err != nil {
			return fmt.Errorf("dump tcp sockets: %w", err)
		}
		err = s.diag.dump(family, protoUDP, diagExtUDP, ^uint32(0), func(d *diagSocket) {
			obs.udp = append(obs.udp, udpSample{cookie: d.cookie, netns: s.ns, local: d.local, remote: d.remote})
			if d.hasMem {
				obs.drops = append(obs.drops, dropSample{
					netns: s.ns, proto: protoUDP, local: d.local, remote: d.remote,
					reason: "SOCKET", count: uint64(d.drops), cookie: d.cookie,
				})
			}
		})
		if err != nil {
			return fmt.Errorf("dump udp sockets: %w", err)
		}
	}
	return s.observeCounters(obs)
}

// observeCounters adds the namespace's drop and datagram counters from
// /proc/<pid>/net/{snmp,snmp6,netstat}. Reasons are named like the kernel's
// drop reasons where one matches.
func (s *procfsSource) observeCounters(obs *observation) error {
	snmp, err := s.proc.Snmp()
	if err != nil {
		return fmt.Errorf("read net/snmp: %w", err)
	}
	snmp6, err := s.proc.Snmp6()
	if err != nil {
		return fmt.Errorf("read net/snmp6: %w", err)
	}
	netstat, err := s.proc.Netstat()
	if err != nil {
		return fmt.Errorf("read net/netstat: %w", err)
	}
	add := func(reason string, vals ...*float64) {
		var n uint64
		for _, v := range vals {
			if v != nil {
				n += uint64(*v)
			}
		}
		obs.drops = append(obs.drops, dropSample{netns: s.ns, reason: reason, count: n, total: true})
	}
	add("SOCKET_RCVBUFF", snmp.Udp.RcvbufErrors, snmp6.Udp6.RcvbufErrors)
	add("UDP_SNDBUF", snmp.Udp.SndbufErrors, snmp6.Udp6.SndbufErrors)
	add("UDP_CSUM", snmp.Udp.InCsumErrors, snmp6.Udp6.InCsumErrors)
	add("NO_SOCKET", snmp.Udp.NoPorts, snmp6.Udp6.NoPorts)
	add("TCP_CSUM", snmp.Tcp.InCsumErrors)
	add("LISTEN_DROPS", netstat.TcpExt.ListenDrops)
	add("SOCKET_BACKLOG", netstat.TcpExt.TCPBacklogDrop)
	add("TCP_OFODROP", netstat.TcpExt.TCPOFODrop)
	add("TCP_RCVQ", netstat.TcpExt.TCPRcvQDrop)
	add("IP_INHDR", snmp.Ip.InHdrErrors, snmp6.Ip6.InHdrErrors)
	add("IP_INADDRERRORS", snmp.Ip.InAddrErrors, snmp6.Ip6.InAddrErrors)
	add("IP_INDISCARDS", snmp.Ip.InDiscards, snmp6.Ip6.InDiscards)
	add("IP_OUTDISCARDS", snmp.Ip.OutDiscards, snmp6.Ip6.OutDiscards)

	var dg datagramCounters
	for _, v := range []*float64{snmp.Udp.InDatagrams, snmp6.Udp6.InDatagrams} {
		if v != nil {
			dg.in += uint64(*v)
		}
	}
	for _, v := range []*float64{snmp.Udp.OutDatagrams, snmp6.Udp6.OutDatagrams} {
		if v != nil {
			dg.out += uint64(*v)
		}
	}
	obs.datagrams = &dg
	return nil
}

// procHost reads host figures from /proc.
type procHost struct {
	fs procfs.FS
}

var _ hostSampler = (*procHost)(nil)

func newProcHost(procPath string) (*procHost, error) {
	fs, err := procfs.NewFS(procPath)
	if err != nil {
		return nil, fmt.Errorf("open procfs: %w", err)
	}
	return &procHost{fs: fs}, nil
}

func (p *procHost) sampleHost() (hostSample, error) {
	var h hostSample
	st, err := p.fs.Stat()
	if err != nil {
		return h, fmt.Errorf("read stat: %w", err)
	}
	c := st.CPUTotal
	h.cpuTotal = c.User + c.Nice + c.System + c.Idle + c.Iowait + c.IRQ + c.SoftIRQ + c.Steal
	h.cpuBusy = h.cpuTotal - c.Idle - c.Iowait
	mi, err := p.fs.Meminfo()
	if err != nil {
		return h, fmt.Errorf("read meminfo: %w", err)
	}
	if mi.MemTotalBytes != nil {
		h.memTotal = *mi.MemTotalBytes
	}
	if mi.MemAvailableBytes != nil {
		h.memAvailable = *mi.MemAvailableBytes
	}
	la, err := p.fs.LoadAvg()
	if err != nil {
		return h, fmt.Errorf("read loadavg: %w", err)
	}
	h.load1, h.load5, h.load15 = la.Load1, la.Load5, la.Load15
	return h, nil
}
