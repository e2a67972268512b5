//! Resetting what tests leave behind: sequences, counters, registrations,
//! dialogs, all of it with the API rules and the journal, or one scope's.

use tracing::info;

use super::placement::ApiRule;
use super::{Lab, Removed};
use crate::config::RuntimeRules;

impl Lab {
    /// Every sequence forgets its keys; returns how many rules have one.
    pub fn reset_sequences(&self) -> usize {
        let live = self.engine.snapshot().rules.clone();
        live.rules()
            .iter()
            .filter(|rule| rule.reset_sequence())
            .count()
    }

    /// Every rule's `every` and `${counter}` count from zero; returns how
    /// many rules there are.
    pub fn reset_counters(&self) -> usize {
        let live = self.engine.snapshot().rules.clone();
        live.rules().iter().for_each(|rule| rule.reset_counters());
        live.rules().len()
    }

    /// Forgets every registration; returns how many bindings went.
    pub fn reset_registrations(&self) -> usize {
        self.engine.registrar().clear()
    }

    /// Ends every dialog with BYE; returns how many.
    pub fn reset_dialogs(&self) -> usize {
        self.engine.transactions().end_dialogs(|_| true)
    }

    /// Drops the API rules, then resets sequences, counters,
    /// registrations, dialogs and the journal.
    pub fn reset(&self) -> Removed {
        let rules = {
            let mut state = self.lock();
            let gone: Vec<ApiRule> = std::mem::take(&mut state.api);
            self.install(
                &state,
                RuntimeRules {
                    rules: Vec::new(),
                    warnings: Vec::new(),
                },
            );
            for api in &gone {
                self.forget(&api.rule.name);
            }
            gone.len()
        };
        self.reset_sequences();
        self.reset_counters();
        let records = self.engine.observer().map_or(0, |observer| {
            let (records, _) = observer.journal.usage();
            observer.journal.clear();
            records
        });
        Removed {
            rules,
            records,
            dialogs: self.reset_dialogs(),
            registrations: self.reset_registrations(),
        }
    }

    /// Removes what the test `scope` left: its API rules, its journal
    /// records, its dialogs (ended with BYE).
    pub fn delete_scope(&self, scope: &str) -> Removed {
        let rules = {
            let mut state = self.lock();
            let in_scope = |a: &ApiRule| a.rule.matcher.scope.as_deref() == Some(scope);
            let gone: Vec<String> = state
                .api
                .iter()
                .filter(|a| in_scope(a))
                .map(|a| a.rule.name.to_string())
                .collect();
            state.api.retain(|a| !in_scope(a));
            self.install(
                &state,
                RuntimeRules {
                    rules: Vec::new(),
                    warnings: Vec::new(),
                },
            );
            for name in &gone {
                self.forget(name);
            }
            gone.len()
        };
        let dialogs = self
            .engine
            .transactions()
            .end_dialogs(|dialog| dialog.scope().as_deref() == Some(scope));
        let records = self
            .engine
            .observer()
            .map_or(0, |observer| observer.journal.remove_scope(scope));
        info!(
            scope,
            rules, records, dialogs, "scope deleted through the admin API"
        );
        Removed {
            rules,
            records,
            dialogs,
            registrations: 0,
        }
    }
}
