//! RTP/RTCP port pairs from a configured range.
//!
//! Each leg gets an even RTP port and the odd port above it for RTCP (RFC
//! 3550 §11), both bound before the pair is handed out, so the SDP never
//! advertises a port we could not get. Ports another process holds are
//! skipped. A pair goes back to the pool when its [`PortPair`] (or the
//! [`PortLease`] split off it) is dropped. The pool's lock is taken only
//! when a leg opens or closes, never per packet.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};

use thiserror::Error;

/// Why no pair could be handed out.
#[derive(Debug, Error)]
pub enum PortError {
    #[error(
        "invalid RTP port range {min}-{max}: needs at least one even port with its odd neighbour"
    )]
    InvalidRange { min: u16, max: u16 },
    #[error("no free RTP port pair in {min}-{max} on {ip}")]
    Exhausted { ip: IpAddr, min: u16, max: u16 },
    #[error("binding {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

#[derive(Debug)]
struct Inner {
    ip: IpAddr,
    /// First even port and number of pairs.
    first: u16,
    min: u16,
    max: u16,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    in_use: Vec<bool>,
    /// Next pair index to try: round robin, so a port just released is not
    /// handed out again at once (late packets of the old call).
    cursor: usize,
    used: usize,
}

/// A pool of RTP/RTCP port pairs on one address.
#[derive(Debug, Clone)]
pub struct PortPool {
    inner: Arc<Inner>,
}

impl PortPool {
    /// A pool over the even ports in `[min, max]` whose odd neighbour is
    /// also in the range.
    pub fn new(ip: IpAddr, min: u16, max: u16) -> Result<Self, PortError> {
        let first = if min.is_multiple_of(2) {
            min
        } else {
            min.saturating_add(1)
        };
        if min == 0 || max < min || first == u16::MAX || first.saturating_add(1) > max {
            return Err(PortError::InvalidRange { min, max });
        }
        let pairs = (usize::from(max) - usize::from(first)).div_ceil(2);
        Ok(Self {
            inner: Arc::new(Inner {
                ip,
                first,
                min,
                max,
                state: Mutex::new(State {
                    in_use: vec![false; pairs],
                    cursor: 0,
                    used: 0,
                }),
            }),
        })
    }

    /// The address the pool binds on.
    pub fn ip(&self) -> IpAddr {
        self.inner.ip
    }

    /// Pairs in the range.
    pub fn capacity(&self) -> usize {
        self.lock().in_use.len()
    }

    /// Pairs currently handed out.
    pub fn in_use(&self) -> usize {
        self.lock().used
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Bind the next free pair.
    pub fn allocate(&self) -> Result<PortPair, PortError> {
        let mut st = self.lock();
        let n = st.in_use.len();
        for k in 0..n {
            let idx = (st.cursor + k) % n;
            if st.in_use[idx] {
                continue;
            }
            let port = self.inner.first + 2 * idx as u16;
            let Some((rtp, rtcp)) = self.bind_pair(port)? else {
                continue;
            };
            st.in_use[idx] = true;
            st.used += 1;
            st.cursor = (idx + 1) % n;
            return Ok(PortPair {
                rtp,
                rtcp,
                lease: PortLease {
                    pool: self.clone(),
                    index: idx,
                    port,
                },
            });
        }
        Err(PortError::Exhausted {
            ip: self.inner.ip,
            min: self.inner.min,
            max: self.inner.max,
        })
    }

    /// `Ok(None)` when either port is taken by someone else.
    fn bind_pair(&self, port: u16) -> Result<Option<(UdpSocket, UdpSocket)>, PortError> {
        let bind = |p: u16| {
            let addr = SocketAddr::new(self.inner.ip, p);
            match UdpSocket::bind(addr) {
                Ok(s) => Ok(Some(s)),
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Ok(None),
                Err(source) => Err(PortError::Bind { addr, source }),
            }
        };
        let Some(rtp) = bind(port)? else {
            return Ok(None);
        };
        let Some(rtcp) = bind(port + 1)? else {
            return Ok(None);
        };
        Ok(Some((rtp, rtcp)))
    }

    fn release(&self, index: usize) {
        let mut st = self.lock();
        if let Some(slot) = st.in_use.get_mut(index)
            && *slot
        {
            *slot = false;
            st.used -= 1;
        }
    }
}

/// The right to a port pair; releases it on drop. Kept by whoever owns the
/// sockets after they are split off the [`PortPair`].
#[derive(Debug)]
pub struct PortLease {
    pool: PortPool,
    index: usize,
    port: u16,
}

impl PortLease {
    /// The RTP (even) port.
    pub fn rtp_port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.release(self.index);
    }
}

/// Two bound sockets: RTP on an even port, RTCP on the next one.
#[derive(Debug)]
pub struct PortPair {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    pub lease: PortLease,
}

impl PortPair {
    pub fn rtp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.lease.pool.inner.ip, self.lease.port)
    }
    pub fn rtcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.lease.pool.inner.ip, self.lease.port + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    /// A free even-aligned block of `n` ports on loopback, held (probe by
    /// binding). Below the kernel's ephemeral range (32768 and up), so
    /// sockets bound to port 0 elsewhere never land in it.
    /// Both tests probe from the same first block: run one at a time, or
    /// one's probe can hold the ports the other just released for its pool.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn held_block(n: u16) -> (u16, Vec<UdpSocket>) {
        for base in (20_000..32_000).step_by(64) {
            let socks: Vec<_> = (base..base + n)
                .map_while(|p| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).ok())
                .collect();
            if socks.len() == usize::from(n) {
                return (base, socks);
            }
        }
        panic!("no free port block");
    }

    fn free_block(n: u16) -> u16 {
        held_block(n).0
    }

    #[test]
    fn allocates_even_pairs_skips_busy_and_returns_on_drop() {
        let _serial = serial();
        let (base, mut held) = held_block(6);
        // Someone else holds the RTCP port of the middle pair (kept from
        // the probe, so nothing can take it in between).
        let squatter = held.remove(3);
        drop(held);
        let pool = PortPool::new(LO, base, base + 5).unwrap();
        assert_eq!(pool.capacity(), 3);
        let a = pool.allocate().unwrap();
        assert_eq!(a.rtp_addr().port(), base);
        assert_eq!(a.rtcp.local_addr().unwrap().port(), base + 1);
        let b = pool.allocate().unwrap();
        assert_eq!(b.rtp_addr().port(), base + 4);
        let err = pool.allocate().unwrap_err();
        assert!(matches!(err, PortError::Exhausted { .. }), "{err}");
        assert_eq!(pool.in_use(), 2);
        drop(a);
        assert_eq!(pool.in_use(), 1);
        drop(squatter);
        // Round robin: the cursor is past the last pair, so it wraps to the
        // freed first pair.
        let c = pool.allocate().unwrap();
        assert_eq!(c.rtp_addr().port(), base);
        let d = pool.allocate().unwrap();
        assert_eq!(d.rtp_addr().port(), base + 2);
        assert_eq!(pool.in_use(), 3);
    }

    #[test]
    fn odd_bounds_and_invalid_ranges() {
        let _serial = serial();
        let base = free_block(4);
        let pool = PortPool::new(LO, base + 1, base + 3).unwrap();
        assert_eq!(pool.capacity(), 1);
        assert_eq!(pool.allocate().unwrap().rtp_addr().port(), base + 2);
        assert!(matches!(
            PortPool::new(LO, 10_001, 10_002),
            Err(PortError::InvalidRange { .. })
        ));
        assert!(PortPool::new(LO, 0, 100).is_err());
        assert!(PortPool::new(LO, 200, 100).is_err());
        assert!(PortPool::new(LO, 65_534, 65_535).is_ok());
    }
}
