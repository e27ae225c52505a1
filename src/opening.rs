//! Counts connections still in their opening exchange, in all and per
//! address (an IPv6 /64 counting as one), so that idle connections from
//! one machine cannot take every place and lock out the people who know
//! the code. A few machines together can still fill every place, for as
//! long as they keep renewing their connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::limits;

/// Why a new connection got no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// [`limits::MAX_OPENING`] connections are opening.
    Everyone,
    /// [`limits::MAX_OPENING_PER_ADDRESS`] are opening from this address.
    ThisAddress,
}

impl Full {
    /// Why, as the sender's console says it.
    pub fn reason(self) -> &'static str {
        match self {
            Full::Everyone => "too many connections opening at once",
            Full::ThisAddress => "too many connections opening at once from this address",
        }
    }
}

/// The places for connections in their opening exchange.
#[derive(Debug, Clone, Default)]
pub struct Opening {
    counts: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Where a connection comes from, as far as limits go: an IPv4 address
/// (also written as IPv6), or an IPv6 /64 network, since one machine
/// usually holds a whole /64 and could take a new address for each
/// connection.
fn origin(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((v6.to_bits() & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

impl Opening {
    /// No connection opening.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a place for a connection from `ip`; it is given back when the
    /// returned guard is dropped.
    pub fn enter(&self, ip: IpAddr) -> Result<Place, Full> {
        let ip = origin(ip);
        let mut counts = self.lock();
        if counts.values().sum::<usize>() >= limits::MAX_OPENING {
            return Err(Full::Everyone);
        }
        let count = counts.entry(ip).or_default();
        if *count >= limits::MAX_OPENING_PER_ADDRESS {
            return Err(Full::ThisAddress);
        }
        *count += 1;
        Ok(Place {
            opening: self.clone(),
            ip,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One connection's place, held until its opening exchange is over.
#[derive(Debug)]
pub struct Place {
    opening: Opening,
    ip: IpAddr,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.opening.lock();
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn one_address_gets_its_share_and_others_still_get_in() {
        let opening = Opening::new();
        let mine: Vec<Place> = (0..limits::MAX_OPENING_PER_ADDRESS)
            .map(|_| opening.enter(ip(1)).unwrap())
            .collect();
        assert_eq!(opening.enter(ip(1)).unwrap_err(), Full::ThisAddress);
        let other = opening.enter(ip(2)).expect("another address is let in");
        drop(mine);
        assert!(
            opening.enter(ip(1)).is_ok(),
            "places come back when dropped"
        );
        drop(other);
        assert!(
            opening.lock().is_empty(),
            "no address is remembered for nothing"
        );
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address_and_mapped_ipv4_as_ipv4() {
        let opening = Opening::new();
        let v6 = |last: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last]);
        let _held: Vec<Place> = (0..limits::MAX_OPENING_PER_ADDRESS as u16)
            .map(|i| opening.enter(v6(i)).unwrap())
            .collect();
        assert_eq!(opening.enter(v6(999)).unwrap_err(), Full::ThisAddress);
        let next_network = IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]);
        assert!(opening.enter(next_network).is_ok());
        let _v4: Vec<Place> = (0..limits::MAX_OPENING_PER_ADDRESS)
            .map(|_| opening.enter(ip(7)).unwrap())
            .collect();
        let mapped = IpAddr::from([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0007]);
        assert_eq!(opening.enter(mapped).unwrap_err(), Full::ThisAddress);
    }

    #[test]
    fn all_addresses_together_are_limited_too() {
        let opening = Opening::new();
        let places: Vec<Place> = (0..limits::MAX_OPENING)
            .map(|i| opening.enter(ip(i as u8)).unwrap())
            .collect();
        assert_eq!(opening.enter(ip(250)).unwrap_err(), Full::Everyone);
        drop(places);
        assert!(opening.enter(ip(250)).is_ok());
    }
}
