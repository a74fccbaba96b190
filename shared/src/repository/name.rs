//! ECR's rule for repository names.

/// What ECR accepts, in words.
const RULE: &str =
    "2–256 characters: lowercase letters and digits, separated by '.', '_', '__' or '-' runs, in '/'-separated parts";

/// Why a name is not one ECR accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("\"{name}\" is {length} characters; ECR accepts {RULE}")]
    Length { name: String, length: usize },
    #[error("\"{name}\" is not a valid repository name; ECR accepts {RULE}")]
    Characters { name: String },
}

/// ECR's repository name rule: 2–256 characters of
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn check_repository_name(name: &str) -> Result<(), NameError> {
    if !(2..=256).contains(&name.len()) {
        return Err(NameError::Length { name: name.to_string(), length: name.len() });
    }
    let component_ok = |part: &str| {
        let bytes = part.as_bytes();
        let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if alnum(b) {
                i += 1;
                continue;
            }
            // A separator: '.', '_', '__', or a run of '-'; always followed by an alphanumeric.
            let run = bytes[i..].iter().take_while(|&&c| c == b).count();
            let ok = match b {
                b'.' => run == 1,
                b'_' => run <= 2,
                b'-' => true,
                _ => false,
            };
            if !ok {
                return false;
            }
            i += run;
        }
        true
    };
    if name.split('/').all(component_ok) {
        Ok(())
    } else {
        Err(NameError::Characters { name: name.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ecr_accepts() {
        for ok in ["ab", "app", "team-a/service", "a.b_c__d---e/f0", &"a".repeat(256)] {
            assert_eq!(check_repository_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn names_ecr_refuses_say_why() {
        assert!(matches!(check_repository_name("a"), Err(NameError::Length { length: 1, .. })));
        assert!(matches!(check_repository_name(&"a".repeat(257)), Err(NameError::Length { length: 257, .. })));
        for bad in ["App", "a..b", "a___b", "-ab", "ab-", "a//b", "/ab", "ab/", "a b", "ecr-keeper:failed-create:1"] {
            let e = check_repository_name(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(
                e.starts_with(&format!("\"{bad}\" is not a valid repository name; ECR accepts 2–256")),
                "{bad}: {e}"
            );
        }
    }
}
