//! A plain LRU, the baseline every policy should beat: a hash map to slots of a doubly linked
//! list kept in a vector.

use std::collections::HashMap;

const NONE: usize = usize::MAX;

struct Node {
    key: u64,
    prev: usize,
    next: usize,
}

/// Hit ratio of an LRU of `capacity` entries replaying `keys`.
pub fn hit_ratio(keys: &[u64], capacity: usize) -> f64 {
    let mut index: HashMap<u64, usize> = HashMap::with_capacity(capacity + 1);
    let mut nodes: Vec<Node> = Vec::with_capacity(capacity);
    let (mut head, mut tail) = (NONE, NONE); // head: most recent
    let mut hits = 0usize;

    let unlink = |nodes: &mut Vec<Node>, head: &mut usize, tail: &mut usize, at: usize| {
        let (prev, next) = (nodes[at].prev, nodes[at].next);
        if prev == NONE {
            *head = next
        } else {
            nodes[prev].next = next
        }
        if next == NONE {
            *tail = prev
        } else {
            nodes[next].prev = prev
        }
    };
    let push_front = |nodes: &mut Vec<Node>, head: &mut usize, tail: &mut usize, at: usize| {
        nodes[at].prev = NONE;
        nodes[at].next = *head;
        if *head != NONE {
            nodes[*head].prev = at;
        }
        *head = at;
        if *tail == NONE {
            *tail = at;
        }
    };

    for &key in keys {
        if let Some(&at) = index.get(&key) {
            hits += 1;
            unlink(&mut nodes, &mut head, &mut tail, at);
            push_front(&mut nodes, &mut head, &mut tail, at);
            continue;
        }
        let at = if nodes.len() < capacity {
            nodes.push(Node {
                key,
                prev: NONE,
                next: NONE,
            });
            nodes.len() - 1
        } else {
            let victim = tail;
            unlink(&mut nodes, &mut head, &mut tail, victim);
            index.remove(&nodes[victim].key);
            nodes[victim].key = key;
            victim
        };
        index.insert(key, at);
        push_front(&mut nodes, &mut head, &mut tail, at);
    }
    hits as f64 / keys.len() as f64
}
