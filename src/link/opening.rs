//! Places for connections still in their opening exchange, shared fairly
//! between the addresses they come from (an IPv6 /64 counting as one).
//!
//! At most [`limits::MAX_OPENING`] connections open at once, and at most
//! [`limits::MAX_OPENING_PER_ADDRESS`] of them from one address. When
//! every place is taken, a newcomer from an address that holds fewer
//! places than another still gets one: the address holding the most loses
//! its oldest, which is cut off. So idle connections from a few machines
//! cannot lock out someone who knows the code; they can only take places
//! from each other.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::limits;
use crate::link::net;

/// Why a new connection got no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// [`limits::MAX_OPENING`] connections are opening, and no address
    /// holds more of them than this one would.
    Everyone,
    /// [`limits::MAX_OPENING_PER_ADDRESS`] are opening from this address.
    ThisAddress,
}

impl Full {
    /// Why, as the sender's console and the refused viewer are told.
    pub fn reason(self) -> &'static str {
        match self {
            Full::Everyone => "too many connections opening at once",
            Full::ThisAddress => "too many connections opening at once from this address",
        }
    }
}

/// Ends a connection's opening exchange from outside its thread (for a
/// socket, by shutting down its reading side).
pub type Cut = Box<dyn FnOnce() + Send>;

/// One place as the table holds it.
struct Held {
    id: u64,
    evicted: Arc<AtomicBool>,
    cut: Cut,
}

#[derive(Default)]
struct Table {
    by_origin: HashMap<IpAddr, VecDeque<Held>>,
    total: usize,
    next_id: u64,
}

/// The places for connections in their opening exchange.
#[derive(Clone, Default)]
pub struct Opening {
    table: Arc<Mutex<Table>>,
}

impl std::fmt::Debug for Opening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opening")
            .field("total", &self.lock().total)
            .finish()
    }
}

impl Opening {
    /// No connection opening.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a place for a connection from `ip`, making room when another
    /// address holds more; `cut` ends this connection should it lose its
    /// place later. The place is given back when the guard is dropped.
    pub fn enter(&self, ip: IpAddr, cut: Cut) -> Result<Place, Full> {
        let origin = net::origin(ip);
        let mut table = self.lock();
        let mine = table.by_origin.get(&origin).map_or(0, VecDeque::len);
        if mine >= limits::MAX_OPENING_PER_ADDRESS {
            return Err(Full::ThisAddress);
        }
        if table.total >= limits::MAX_OPENING && !table.evict_for(mine) {
            return Err(Full::Everyone);
        }
        let (id, evicted) = (table.next_id, Arc::new(AtomicBool::new(false)));
        table.next_id += 1;
        table.total += 1;
        table.by_origin.entry(origin).or_default().push_back(Held {
            id,
            evicted: Arc::clone(&evicted),
            cut,
        });
        Ok(Place {
            opening: self.clone(),
            origin,
            id,
            evicted,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        crate::sync::lock(&self.table)
    }
}

impl Table {
    /// Cuts the oldest place of the address holding the most, if it holds
    /// more than a newcomer holding `mine` would after joining; returns
    /// whether a place was freed.
    fn evict_for(&mut self, mine: usize) -> bool {
        let most = self
            .by_origin
            .iter()
            .max_by_key(|(_, held)| (held.len(), std::cmp::Reverse(held[0].id)))
            .map(|(origin, held)| (*origin, held.len()));
        let Some((origin, count)) = most.filter(|&(_, count)| count > mine + 1) else {
            return false;
        };
        let held = self.by_origin.get_mut(&origin).expect("found above");
        let oldest = held.pop_front().expect("an address holds a place");
        if count == 1 {
            self.by_origin.remove(&origin);
        }
        self.total -= 1;
        oldest.evicted.store(true, Ordering::SeqCst);
        (oldest.cut)();
        true
    }

    fn release(&mut self, origin: IpAddr, id: u64) {
        let Some(held) = self.by_origin.get_mut(&origin) else {
            return;
        };
        if let Some(at) = held.iter().position(|h| h.id == id) {
            held.remove(at);
            self.total -= 1;
        }
        if held.is_empty() {
            self.by_origin.remove(&origin);
        }
    }
}

/// One connection's place, held until its opening exchange is over.
pub struct Place {
    opening: Opening,
    origin: IpAddr,
    id: u64,
    evicted: Arc<AtomicBool>,
}

impl Place {
    /// Whether this connection lost its place to a newcomer.
    pub fn evicted(&self) -> bool {
        self.evicted.load(Ordering::SeqCst)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.opening.lock().release(self.origin, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn no_cut() -> Cut {
        Box::new(|| {})
    }

    fn fill(opening: &Opening, from: IpAddr, n: usize) -> Vec<Place> {
        (0..n)
            .map(|_| opening.enter(from, no_cut()).unwrap())
            .collect()
    }

    #[test]
    fn one_address_gets_its_share_and_others_still_get_in() {
        let opening = Opening::new();
        let mine = fill(&opening, ip(1), limits::MAX_OPENING_PER_ADDRESS);
        assert_eq!(
            opening.enter(ip(1), no_cut()).err(),
            Some(Full::ThisAddress)
        );
        let other = opening.enter(ip(2), no_cut()).expect("another address");
        drop(mine);
        assert!(opening.enter(ip(1), no_cut()).is_ok(), "places come back");
        drop(other);
        let table = opening.lock();
        assert!(table.by_origin.is_empty() && table.total == 0);
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address_and_mapped_ipv4_as_ipv4() {
        let opening = Opening::new();
        let v6 = |last: u16| IpAddr::from([0x2001, 0xdb8, 0, 1, 0, 0, 0, last]);
        let _held: Vec<Place> = (0..limits::MAX_OPENING_PER_ADDRESS as u16)
            .map(|i| opening.enter(v6(i), no_cut()).unwrap())
            .collect();
        assert_eq!(
            opening.enter(v6(999), no_cut()).err(),
            Some(Full::ThisAddress)
        );
        let next_network = IpAddr::from([0x2001, 0xdb8, 0, 2, 0, 0, 0, 1]);
        assert!(opening.enter(next_network, no_cut()).is_ok());
        let _v4 = fill(&opening, ip(7), limits::MAX_OPENING_PER_ADDRESS);
        let mapped = IpAddr::from([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0007]);
        assert_eq!(
            opening.enter(mapped, no_cut()).err(),
            Some(Full::ThisAddress)
        );
    }

    #[test]
    fn a_newcomer_takes_the_oldest_place_of_the_address_holding_most() {
        let opening = Opening::new();
        let per = limits::MAX_OPENING_PER_ADDRESS;
        let cuts = Arc::new(AtomicUsize::new(0));
        let mut held = Vec::new();
        for last in 0..(limits::MAX_OPENING / per) as u8 {
            for _ in 0..per {
                let cuts = Arc::clone(&cuts);
                let cut: Cut = Box::new(move || {
                    cuts.fetch_add(1, Ordering::SeqCst);
                });
                held.push(opening.enter(ip(last), cut).unwrap());
            }
        }
        let newcomer = opening.enter(ip(200), no_cut()).expect("room is made");
        assert_eq!(cuts.load(Ordering::SeqCst), 1);
        assert!(held[0].evicted(), "the oldest place of the first address");
        assert!(held[1..].iter().all(|p| !p.evicted()));
        assert_eq!(opening.lock().total, limits::MAX_OPENING);
        // An address holding nearly as many as the most cannot take theirs.
        assert_eq!(opening.enter(ip(0), no_cut()).err(), Some(Full::Everyone));
        drop(held);
        assert_eq!(
            opening.lock().total,
            1,
            "an evicted place is not freed twice"
        );
        drop(newcomer);
        assert_eq!(opening.lock().total, 0);
    }

    #[test]
    fn places_spread_evenly_are_not_taken() {
        let opening = Opening::new();
        let _held: Vec<Place> = (0..limits::MAX_OPENING)
            .map(|i| opening.enter(ip(i as u8), no_cut()).unwrap())
            .collect();
        assert_eq!(opening.enter(ip(250), no_cut()).err(), Some(Full::Everyone));
    }
}
