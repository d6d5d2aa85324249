//! The rule table ("fordelingsregler") behind FordelingsmodtagerList, FordelingsmodtagerValider
//! and the routing of every FordelingsobjektAfsend.
//!
//! A rule belongs to a routing authority and says: objects on this KLE emne (levels may be
//! `*`), optionally only this facet and only from this sender, go to this system. The most
//! specific matching rules win (exact KLE levels count, then a named facet); several rules of
//! equal specificity all answer, which is how a test provokes the "several systems" case.

use crate::config::{Quirks, RoutingRule};
use sf2900::{Cvr, HandlingFacet, KleEmne, KlePattern, RoutingModtager, RoutingValg, System, Uuid};

/// A checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub myndighed: Cvr,
    pub kle: KlePattern,
    pub facet: Option<HandlingFacet>,
    pub afsender: Option<Cvr>,
    pub system_uuid: Uuid,
    pub system_navn: String,
    pub system_myndighed: Cvr,
    pub modtager_aktoer: Option<Uuid>,
    pub kan_modtage: bool,
}

impl Rule {
    fn specificity(&self) -> usize {
        let levels = self.kle.as_str().split('.').filter(|l| *l != "*").count();
        levels * 2 + usize::from(self.facet.is_some())
    }

    fn allows_sender(&self, afsender: &Cvr) -> bool {
        self.afsender.as_ref().is_none_or(|a| a == afsender)
    }
}

#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    rules: Vec<Rule>,
}

impl RoutingTable {
    /// Checks every rule; errors name the rule's index and field.
    pub fn new(rules: &[RoutingRule]) -> anyhow::Result<Self> {
        let mut out = Vec::with_capacity(rules.len());
        for (i, r) in rules.iter().enumerate() {
            let field =
                |f: &str, e: &dyn std::fmt::Display| anyhow::anyhow!("routing[{i}].{f}: {e}");
            let myndighed = Cvr::new(r.myndighed.clone()).map_err(|e| field("myndighed", &e))?;
            out.push(Rule {
                kle: KlePattern::new(r.kle.clone()).map_err(|e| field("kle", &e))?,
                facet: r
                    .facet
                    .clone()
                    .map(HandlingFacet::new)
                    .transpose()
                    .map_err(|e| field("facet", &e))?,
                afsender: r
                    .afsender
                    .clone()
                    .map(Cvr::new)
                    .transpose()
                    .map_err(|e| field("afsender", &e))?,
                system_uuid: sf2900::types::parse_uuid(&r.system_uuid)
                    .map_err(|e| field("system_uuid", &e))?,
                system_navn: r.system_navn.clone(),
                system_myndighed: match &r.system_myndighed {
                    Some(c) => Cvr::new(c.clone()).map_err(|e| field("system_myndighed", &e))?,
                    None => myndighed.clone(),
                },
                modtager_aktoer: r
                    .modtager_aktoer
                    .as_deref()
                    .map(sf2900::types::parse_uuid)
                    .transpose()
                    .map_err(|e| field("modtager_aktoer", &e))?,
                kan_modtage: r.kan_modtage,
                myndighed,
            });
        }
        Ok(Self { rules: out })
    }

    /// The most specific rules for a KLE emne and facet.
    pub fn matching(
        &self,
        afsender: &Cvr,
        myndighed: &Cvr,
        kle: &KleEmne,
        facet: Option<&HandlingFacet>,
    ) -> Vec<&Rule> {
        let candidates: Vec<&Rule> = self
            .rules
            .iter()
            .filter(|r| {
                &r.myndighed == myndighed && r.allows_sender(afsender) && r.kle.matches(kle)
            })
            .filter(|r| r.facet.is_none() || r.facet.as_ref() == facet)
            .collect();
        let best = candidates.iter().map(|r| r.specificity()).max();
        candidates
            .into_iter()
            .filter(|r| Some(r.specificity()) == best)
            .collect()
    }

    /// The rules an object is routed by: KLE routing or a named modtager-aktør.
    pub fn route(&self, afsender: &Cvr, myndighed: &Cvr, valg: &RoutingValg) -> Vec<&Rule> {
        match valg {
            RoutingValg::KleEmneHandling(k) => self.matching(
                afsender,
                myndighed,
                &k.routing_kle_emne,
                k.routing_handling_facet.as_ref(),
            ),
            RoutingValg::ModtagerAktoer(a) => self
                .rules
                .iter()
                .filter(|r| {
                    &r.myndighed == myndighed
                        && r.allows_sender(afsender)
                        && r.modtager_aktoer == Some(*a)
                })
                .collect(),
        }
    }

    /// FordelingsmodtagerList's answer, with the real service's quirks when switched on.
    pub fn list(
        &self,
        afsender: &Cvr,
        myndighed: &Cvr,
        kle: &KleEmne,
        facet: Option<&HandlingFacet>,
        quirks: &Quirks,
    ) -> Vec<System> {
        self.matching(afsender, myndighed, kle, facet)
            .into_iter()
            .map(|r| System {
                system_myndighed: (!quirks.omit_system_myndighed)
                    .then(|| r.system_myndighed.clone()),
                system_uuid: r.system_uuid,
                system_navn: r.system_navn.clone(),
                routing_kle_emne: if quirks.wildcard_kle_in_response {
                    r.kle.clone()
                } else {
                    kle.clone().into()
                },
                routing_handling_facet: r.facet.clone().or_else(|| facet.cloned()),
            })
            .collect()
    }

    /// FordelingsmodtagerValider's answer for one (myndighed, modtager-aktør) pair.
    pub fn valider(&self, afsender: &Cvr, myndighed: &Cvr, aktoer: Uuid) -> RoutingModtager {
        let kan_modtage = self.rules.iter().any(|r| {
            &r.myndighed == myndighed
                && r.allows_sender(afsender)
                && r.modtager_aktoer == Some(aktoer)
                && r.kan_modtage
        });
        RoutingModtager {
            routing_myndighed: myndighed.clone(),
            routing_modtager_aktoer: aktoer,
            kan_modtage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kle: &str, facet: Option<&str>, uuid: &str) -> RoutingRule {
        RoutingRule {
            myndighed: "29189846".into(),
            kle: kle.into(),
            facet: facet.map(Into::into),
            afsender: None,
            system_uuid: uuid.into(),
            system_navn: format!("system {kle}"),
            system_myndighed: None,
            modtager_aktoer: Some(uuid.into()),
            kan_modtage: true,
        }
    }

    const A: &str = "00000000-0000-4000-8000-00000000000a";
    const B: &str = "00000000-0000-4000-8000-00000000000b";
    const C: &str = "00000000-0000-4000-8000-00000000000c";

    #[test]
    fn most_specific_rule_wins_and_ties_all_answer() {
        let t = RoutingTable::new(&[
            rule("32.03.*", None, A),
            rule("*.*.*", None, B),
            rule("32.03.12", Some("G01"), C),
        ])
        .unwrap();
        let cvr = Cvr::new("29189846").unwrap();
        let kle = KleEmne::new("32.03.12").unwrap();
        let g01 = HandlingFacet::new("G01").unwrap();
        let q = Quirks::default();
        let names = |v: Vec<System>| {
            v.into_iter()
                .map(|s| s.system_uuid.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(t.list(&cvr, &cvr, &kle, Some(&g01), &q)), vec![C]);
        assert_eq!(names(t.list(&cvr, &cvr, &kle, None, &q)), vec![A]);
        assert_eq!(
            names(t.list(&cvr, &cvr, &KleEmne::new("01.01.01").unwrap(), None, &q)),
            vec![B]
        );
        let other = Cvr::new("11111111").unwrap();
        assert!(
            t.list(&cvr, &other, &kle, None, &q).is_empty(),
            "rules belong to their myndighed"
        );
        let tie = RoutingTable::new(&[rule("32.03.*", None, A), rule("32.03.*", None, B)]).unwrap();
        assert_eq!(tie.list(&cvr, &cvr, &kle, None, &q).len(), 2);
    }

    #[test]
    fn quirks_change_the_answer() {
        let t = RoutingTable::new(&[rule("32.03.*", None, A)]).unwrap();
        let cvr = Cvr::new("29189846").unwrap();
        let kle = KleEmne::new("32.03.12").unwrap();
        let q = Quirks {
            wildcard_kle_in_response: true,
            omit_system_myndighed: true,
        };
        let s = &t.list(&cvr, &cvr, &kle, None, &q)[0];
        assert_eq!(s.routing_kle_emne.as_str(), "32.03.*");
        assert_eq!(s.system_myndighed, None);
    }

    #[test]
    fn valider_and_aktoer_routing() {
        let t = RoutingTable::new(&[rule("32.03.*", None, A)]).unwrap();
        let cvr = Cvr::new("29189846").unwrap();
        assert!(t.valider(&cvr, &cvr, A.parse().unwrap()).kan_modtage);
        assert!(!t.valider(&cvr, &cvr, B.parse().unwrap()).kan_modtage);
        assert_eq!(
            t.route(&cvr, &cvr, &RoutingValg::ModtagerAktoer(A.parse().unwrap()))
                .len(),
            1
        );
    }
}
