//! Closure order: every object after everything it points at among the new objects, so that an
//! object present on the backup always means its whole subtree and history are present.

use std::collections::HashMap;
use std::hash::Hash;

/// A dependency cycle through `at`. Impossible for fs objects (an id is the hash of the
/// content that names its children), but possible for commits: a commit's id does not cover
/// its `parent_id`, so a broken or hostile primary can send a commit that is its own ancestor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cycle<K>(pub K);

/// Groups `nodes` into levels, dependencies first: level 0 has no dependency among `nodes`,
/// and every node sits one level above its highest dependency. `deps` may name nodes outside
/// `nodes` (already present): they are ignored. Iterative, so deep histories do not overflow.
pub fn levels<K, F, I>(nodes: &[K], deps: F) -> Result<Vec<Vec<K>>, Cycle<K>>
where
    K: Copy + Eq + Hash,
    F: Fn(&K) -> I,
    I: IntoIterator<Item = K>,
{
    let index: HashMap<K, usize> = nodes.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let dep_indices = |i: usize| -> Vec<usize> {
        deps(&nodes[i])
            .into_iter()
            .filter_map(|d| index.get(&d).copied())
            .collect()
    };
    // None: not visited; Some(None): on the current path; Some(Some(level)): done.
    let mut level: Vec<Option<Option<usize>>> = vec![None; nodes.len()];
    for start in 0..nodes.len() {
        let mut stack = vec![(start, false)];
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                let l = dep_indices(i)
                    .iter()
                    .filter_map(|d| level[*d].flatten())
                    .map(|l| l + 1)
                    .max();
                level[i] = Some(Some(l.unwrap_or(0)));
                continue;
            }
            match level[i] {
                Some(Some(_)) => continue,
                Some(None) => return Err(Cycle(nodes[i])),
                None => {}
            }
            level[i] = Some(None);
            stack.push((i, true));
            for d in dep_indices(i) {
                match level[d] {
                    Some(None) => return Err(Cycle(nodes[d])),
                    Some(Some(_)) => {}
                    None => stack.push((d, false)),
                }
            }
        }
    }
    let mut out: Vec<Vec<K>> = Vec::new();
    for (i, l) in level.into_iter().enumerate() {
        let l = l.flatten().expect("every node got a level");
        if out.len() <= l {
            out.resize_with(l + 1, Vec::new);
        }
        out[l].push(nodes[i]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(u32, u32)]) -> impl Fn(&u32) -> Vec<u32> + '_ {
        move |n| edges.iter().filter(|(a, _)| a == n).map(|(_, b)| *b).collect()
    }

    #[test]
    fn dependencies_come_first() {
        // 4 merges 2 and 3, both on 1; 1 depends on 0, which is already present.
        let edges = [(4, 2), (4, 3), (2, 1), (3, 1), (1, 0)];
        let levels = levels(&[4, 3, 2, 1], graph(&edges)).unwrap();
        assert_eq!(levels, vec![vec![1], vec![3, 2], vec![4]]);
    }

    #[test]
    fn a_long_chain_does_not_overflow() {
        let edges: Vec<(u32, u32)> = (1..200_000).map(|i| (i, i - 1)).collect();
        let nodes: Vec<u32> = (0..200_000).rev().collect();
        let index: HashMap<u32, u32> = edges.iter().copied().collect();
        let out = levels(&nodes, |n| index.get(n).copied()).unwrap();
        assert_eq!(out.len(), 200_000);
        assert_eq!(out[0], vec![0]);
    }

    #[test]
    fn cycles_are_refused() {
        assert_eq!(levels(&[7], graph(&[(7, 7)])), Err(Cycle(7)));
        let err = levels(&[1, 2, 3], graph(&[(1, 2), (2, 3), (3, 1)])).unwrap_err();
        assert!([1, 2, 3].contains(&err.0));
        assert!(levels(&[1, 2], graph(&[(1, 2), (2, 1)])).is_err());
    }

    #[test]
    fn empty_input_has_no_levels() {
        assert!(levels::<u32, _, Vec<u32>>(&[], |_| Vec::new()).unwrap().is_empty());
    }
}
