//! User namespace id maps: the subordinate ids of `/etc/subuid` and `/etc/subgid`, the
//! maps a rootless build uses, and the map of the current process

/// One line of an id map: `count` ids from `inside` (in the namespace) are `outside` (on
/// the host) onwards
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// The first id in the namespace
    pub inside: u32,
    /// The first id on the host
    pub outside: u32,
    /// How many ids
    pub count: u32,
}

/// A uid or gid map, as written to `/proc/PID/uid_map`
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdMap {
    /// The lines, in order
    pub ranges: Vec<IdRange>,
}

/// A range of subordinate ids a user may map: a line of `/etc/subuid` or `/etc/subgid`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubordinateRange {
    /// The first host id
    pub start: u32,
    /// How many ids
    pub count: u32,
}

impl IdMap {
    /// Only `outside` is mapped, to root
    pub fn single(outside: u32) -> Self {
        Self {
            ranges: vec![IdRange {
                inside: 0,
                outside,
                count: 1,
            }],
        }
    }

    /// Root is `own`, and ids from 1 on are the subordinate ranges in order (as podman and
    /// buildah map them)
    pub fn with_subordinate(own: u32, subordinate: &[SubordinateRange]) -> Self {
        let mut ranges = vec![IdRange {
            inside: 0,
            outside: own,
            count: 1,
        }];
        let mut next: u32 = 1;
        for range in subordinate {
            let Some(after) = next.checked_add(range.count) else {
                break;
            };
            ranges.push(IdRange {
                inside: next,
                outside: range.start,
                count: range.count,
            });
            next = after;
        }
        Self { ranges }
    }

    /// Reads a map in the format of `/proc/PID/uid_map`; `None` when it is malformed
    pub fn parse(text: &str) -> Option<Self> {
        let mut ranges = Vec::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let mut numbers = line.split_whitespace().map(str::parse::<u32>);
            match (
                numbers.next(),
                numbers.next(),
                numbers.next(),
                numbers.next(),
            ) {
                (Some(Ok(inside)), Some(Ok(outside)), Some(Ok(count)), None) => {
                    ranges.push(IdRange {
                        inside,
                        outside,
                        count,
                    })
                }
                _ => return None,
            }
        }
        Some(Self { ranges })
    }

    /// The map in the format of `/proc/PID/uid_map`
    pub fn render(&self) -> String {
        self.ranges
            .iter()
            .map(|range| format!("{} {} {}\n", range.inside, range.outside, range.count))
            .collect()
    }

    /// The arguments `newuidmap PID` and `newgidmap PID` take after the pid
    pub fn arguments(&self) -> Vec<String> {
        self.ranges
            .iter()
            .flat_map(|range| [range.inside, range.outside, range.count])
            .map(|number| number.to_string())
            .collect()
    }

    /// The map of the initial user namespace: every id is itself
    pub fn is_identity(&self) -> bool {
        self.ranges.len() == 1
            && self.ranges[0].inside == 0
            && self.ranges[0].outside == 0
            && self.ranges[0].count == u32::MAX
    }

    /// How many ids are mapped
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|range| u64::from(range.count)).sum()
    }

    /// Whether no id is mapped
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id in the namespace of host id `outside`
    pub fn to_inside(&self, outside: u32) -> Option<u32> {
        self.ranges.iter().find_map(|range| {
            let offset = outside.checked_sub(range.outside)?;
            (offset < range.count).then(|| range.inside + offset)
        })
    }

    /// The host id of id `inside` in the namespace
    pub fn to_outside(&self, inside: u32) -> Option<u32> {
        self.ranges.iter().find_map(|range| {
            let offset = inside.checked_sub(range.inside)?;
            (offset < range.count).then(|| range.outside + offset)
        })
    }
}

/// The ranges of `text` (the format of `/etc/subuid`: `USER:START:COUNT`, where `USER` is a
/// name or a numeric id) that belong to the user `name` with id `id`; malformed lines and
/// ranges that overflow are left out
pub fn subordinate_ranges(text: &str, name: Option<&str>, id: u32) -> Vec<SubordinateRange> {
    let id_text = id.to_string();
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split(':');
            let (owner, start, count) = (fields.next()?, fields.next()?, fields.next()?);
            if fields.next().is_some() || !(Some(owner) == name || owner == id_text) {
                return None;
            }
            let start = start.trim().parse::<u32>().ok()?;
            let count = count.trim().parse::<u32>().ok()?;
            (count > 0 && start.checked_add(count).is_some())
                .then_some(SubordinateRange { start, count })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_by_name_or_id() {
        let text = "# comment\nalice:100000:65536\nbob:165536:65536\n1000:300000:10\nalice:bad:1\nalice:1:0\nalice:4294967295:2\n";
        assert_eq!(
            subordinate_ranges(text, Some("alice"), 1000),
            [
                SubordinateRange {
                    start: 100000,
                    count: 65536
                },
                SubordinateRange {
                    start: 300000,
                    count: 10
                }
            ]
        );
        assert!(subordinate_ranges(text, Some("carol"), 1001).is_empty());
        assert!(subordinate_ranges(text, None, 1001).is_empty());
    }

    #[test]
    fn full_map_puts_root_on_the_user_and_the_rest_on_the_range() {
        let map = IdMap::with_subordinate(
            1000,
            &[SubordinateRange {
                start: 100000,
                count: 65536,
            }],
        );
        assert_eq!(map.render(), "0 1000 1\n1 100000 65536\n");
        assert_eq!(map.arguments(), ["0", "1000", "1", "1", "100000", "65536"]);
        // host uid - subuid base + 1 = the id in the namespace
        assert_eq!(map.to_inside(100099), Some(100));
        assert_eq!(map.to_inside(1000), Some(0));
        assert_eq!(map.to_inside(999), None);
        assert_eq!(map.to_outside(100), Some(100099));
        assert_eq!(map.to_outside(65536), Some(165535));
        assert_eq!(map.to_outside(65537), None);
        assert_eq!(map.len(), 65537);
    }

    #[test]
    fn proc_maps_parse() {
        let identity = IdMap::parse("         0          0 4294967295\n").unwrap();
        assert!(identity.is_identity());
        let single = IdMap::parse("0 1000 1\n").unwrap();
        assert_eq!(single, IdMap::single(1000));
        assert!(!single.is_identity());
        assert_eq!(IdMap::parse("0 1000\n"), None);
        assert_eq!(IdMap::parse("").map(|map| map.is_empty()), Some(true));
    }
}
