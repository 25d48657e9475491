//! Contacts: peer IDs the user starred, each with a name of their choosing. Shown first on the
//! main screen with whether they are online. Kept as JSON next to the recent calls.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Contacts kept at most.
pub const MAX_CONTACTS: usize = 500;
/// A contact's name is at most this many characters.
pub const MAX_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    /// What the user calls them; empty: their ID.
    #[serde(default)]
    pub name: String,
}

impl Contact {
    pub fn shown_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }
}

#[derive(Debug, Default)]
pub struct Contacts {
    /// In the order they were starred.
    pub list: Vec<Contact>,
    path: Option<PathBuf>,
}

impl Contacts {
    /// Next to the recent calls (see [`super::recents::Recents::default_path`]).
    pub fn default_path() -> Option<PathBuf> {
        super::recents::Recents::default_path().map(|p| p.with_file_name("contacts.json"))
    }

    pub fn load(path: Option<PathBuf>) -> Contacts {
        let mut list: Vec<Contact> = path
            .as_deref()
            .and_then(|p| std::fs::read_to_string(p).ok().map(|t| (p, t)))
            .and_then(|(p, text)| {
                serde_json::from_str(&text)
                    .map_err(
                        |e| tracing::warn!(error = %e, path = %p.display(), "contacts unreadable"),
                    )
                    .ok()
            })
            .unwrap_or_default();
        list.truncate(MAX_CONTACTS);
        Contacts { list, path }
    }

    fn save(&self) {
        let Some(path) = &self.path else {
            return;
        };
        if let Err(e) = super::store::write_json_atomically(path, &self.list) {
            tracing::warn!(error = %e, path = %path.display(), "cannot keep the contacts");
        }
    }

    pub fn get(&self, id: &str) -> Option<&Contact> {
        self.list.iter().find(|c| c.id == id)
    }

    pub fn is_starred(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Stars `id` (no-op if starred, or if the list is full).
    pub fn star(&mut self, id: &str) {
        if self.is_starred(id) || self.list.len() >= MAX_CONTACTS {
            return;
        }
        self.list.push(Contact {
            id: id.to_string(),
            name: String::new(),
        });
        self.save();
    }

    pub fn unstar(&mut self, id: &str) {
        let before = self.list.len();
        self.list.retain(|c| c.id != id);
        if self.list.len() != before {
            self.save();
        }
    }

    /// Names a contact (trimmed, at most [`MAX_NAME_CHARS`]; empty: shown by ID).
    pub fn rename(&mut self, id: &str, name: &str) {
        let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
        if let Some(c) = self.list.iter_mut().find(|c| c.id == id) {
            c.name = name;
            self.save();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starred_named_and_kept() {
        let path = std::env::temp_dir()
            .join(format!("peercall-contacts-{}", std::process::id()))
            .join("contacts.json");
        let _ = std::fs::remove_file(&path);
        let mut c = Contacts::load(Some(path.clone()));
        c.star("bob");
        c.star("carol");
        c.star("bob");
        c.rename("bob", "  Bob Smith  ");
        c.rename("nobody", "x");
        assert_eq!(c.list.len(), 2);
        assert_eq!(c.get("bob").unwrap().shown_name(), "Bob Smith");
        assert_eq!(c.get("carol").unwrap().shown_name(), "carol");
        c.rename("carol", &"é".repeat(100));
        assert_eq!(c.get("carol").unwrap().name.chars().count(), MAX_NAME_CHARS);
        c.unstar("carol");
        let again = Contacts::load(Some(path.clone()));
        assert_eq!(again.list, c.list);
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}
