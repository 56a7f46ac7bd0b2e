//! Where a step sits in the file's tree of steps, and what one place can
//! see of another: an output is readable after its step, in the same list
//! of steps or one enclosing it, never from outside a foreach's body.

/// A step's place: the index of its entry in each list of steps from the
/// top down to its own, and the ids of the foreach steps whose bodies those
/// lists are (one fewer). Steps of one parallel group share a place's
/// indices, so the ids tell two bodies in one group apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Place {
    pub at: Vec<usize>,
    pub within: Vec<String>,
}

/// How a step's output at one place looks from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    /// Listed before, in the same list or one enclosing it: readable.
    Before,
    /// Listed after, in the same list or one enclosing it.
    Later,
    /// The same entry: the step itself, or another branch of its group.
    SameEntry,
    /// The foreach whose body holds the reader.
    Enclosing,
    /// Inside the body of the foreach `within[depth]` of the producer,
    /// which does not hold the reader.
    InBody { depth: usize },
}

impl Place {
    /// The place of a workflow's `output` block: after every top-level step.
    pub fn end() -> Self {
        Place {
            at: vec![usize::MAX],
            within: Vec::new(),
        }
    }

    /// The place of entry `at` of the list this place's step is in.
    pub fn sibling(&self, at: usize) -> Self {
        let mut place = self.clone();
        if let Some(last) = place.at.last_mut() {
            *last = at;
        }
        place
    }

    /// The place of entry `at` of the body of `foreach`, the step here.
    pub fn child(&self, foreach: &str, at: usize) -> Self {
        let mut place = self.clone();
        place.at.push(at);
        place.within.push(foreach.to_owned());
        place
    }

    /// Whether the first `depth` levels of both places are the same lists.
    fn shares(&self, other: &Place, depth: usize) -> bool {
        self.at.len() >= depth
            && other.at.len() >= depth
            && self.at[..depth] == other.at[..depth]
            && self.within[..depth] == other.within[..depth]
    }

    /// Whether a step here is inside the body of the foreach at `foreach`,
    /// whose id is `id`, at any depth.
    pub fn is_inside(&self, foreach: &Place, id: &str) -> bool {
        let depth = foreach.at.len();
        self.at.len() > depth
            && foreach.shares(self, depth - 1)
            && self.at[depth - 1] == foreach.at[depth - 1]
            && self.within[depth - 1] == id
    }

    /// How the output of the step at `self` looks from `reader`.
    pub fn seen_from(&self, reader: &Place, producer_id: &str) -> Sight {
        let depth = self.at.len() - 1;
        if reader.at.len() <= depth || !self.shares(reader, depth) {
            let diverge = (0..depth)
                .find(|&d| {
                    reader.at.get(d) != Some(&self.at[d])
                        || reader.within.get(d) != Some(&self.within[d])
                })
                .unwrap_or(depth);
            return Sight::InBody { depth: diverge };
        }
        match self.at[depth].cmp(&reader.at[depth]) {
            std::cmp::Ordering::Less => Sight::Before,
            std::cmp::Ordering::Greater => Sight::Later,
            std::cmp::Ordering::Equal => {
                if reader.within.get(depth).is_some_and(|id| id == producer_id) {
                    Sight::Enclosing
                } else {
                    Sight::SameEntry
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(at: &[usize], within: &[&str]) -> Place {
        Place {
            at: at.to_vec(),
            within: within.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn outputs_are_seen_down_the_tree_not_up_it() {
        let top = place(&[1], &[]);
        let body = place(&[2, 0], &["each"]);
        let deeper = place(&[2, 1, 0], &["each", "inner"]);
        assert_eq!(top.seen_from(&body, "a"), Sight::Before);
        assert_eq!(top.seen_from(&deeper, "a"), Sight::Before);
        assert_eq!(body.seen_from(&deeper, "b"), Sight::Before);
        assert_eq!(
            body.seen_from(&place(&[3], &[]), "b"),
            Sight::InBody { depth: 0 }
        );
        assert_eq!(deeper.seen_from(&body, "c"), Sight::InBody { depth: 1 });
        assert_eq!(
            deeper.seen_from(&Place::end(), "c"),
            Sight::InBody { depth: 0 }
        );
        assert_eq!(place(&[2], &[]).seen_from(&body, "each"), Sight::Enclosing);
        assert_eq!(
            place(&[2], &[]).seen_from(&place(&[2], &[]), "x"),
            Sight::SameEntry
        );
        assert_eq!(place(&[4], &[]).seen_from(&body, "d"), Sight::Later);
    }

    #[test]
    fn two_bodies_in_one_parallel_group_are_apart() {
        let in_a = place(&[2, 0], &["a"]);
        let in_b = place(&[2, 1], &["b"]);
        assert_eq!(in_a.seen_from(&in_b, "x"), Sight::InBody { depth: 0 });
        assert_eq!(place(&[2], &[]).seen_from(&in_b, "a"), Sight::SameEntry);
        assert!(in_b.is_inside(&place(&[2], &[]), "b"));
        assert!(!in_b.is_inside(&place(&[2], &[]), "a"));
        assert!(!place(&[3], &[]).is_inside(&place(&[2], &[]), "b"));
    }
}
