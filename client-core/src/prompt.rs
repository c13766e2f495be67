//! Asking for passwords: `/register`, `/password` and `/unregister` take no argument (a typed
//! line is shown on the screen and kept in the input history); the client asks for each
//! password on a line of its own, which the front end does not show ([`Ask`] says which), and
//! builds the request once it has them all.
//!
//! A new password is checked at once ([`validate_password`]) and asked for twice; an empty
//! answer cancels, and so does a mistake: nothing is sent until every answer is in.

use shared::Frame;
use shared::validate::validate_password;

use crate::secret::Secret;

/// What the client asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    /// The account's password (to register, or to remove the account).
    Password,
    /// The password to register, again.
    PasswordAgain,
    /// The current password (to change it).
    OldPassword,
    /// The new password.
    NewPassword,
    /// The new password, again.
    NewPasswordAgain,
}

impl Ask {
    /// Words for the prompt.
    pub fn label(self) -> &'static str {
        match self {
            Ask::Password => "Password",
            Ask::PasswordAgain => "Password again",
            Ask::OldPassword => "Current password",
            Ask::NewPassword => "New password",
            Ask::NewPasswordAgain => "New password again",
        }
    }

    /// Whether the answer is a new password (checked against the rules before going on).
    fn is_new(self) -> bool {
        matches!(self, Ask::NewPassword)
    }
}

/// The request a prompt is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `REGISTER`.
    Register,
    /// `CHANGE_PASSWORD`.
    ChangePassword,
    /// `UNREGISTER`.
    Unregister,
}

impl Purpose {
    /// The questions, in order.
    fn steps(self) -> &'static [Ask] {
        match self {
            Purpose::Register => &[Ask::Password, Ask::PasswordAgain],
            Purpose::ChangePassword => &[Ask::OldPassword, Ask::NewPassword, Ask::NewPasswordAgain],
            Purpose::Unregister => &[Ask::Password],
        }
    }

    /// What the user is told when the prompt starts.
    pub fn intro(self) -> &'static str {
        match self {
            Purpose::Register => {
                "Registering your name. Type a password (at least 8 characters), then again; \
                 it is not shown. An empty line cancels."
            }
            Purpose::ChangePassword => {
                "Changing your password. Type the current one, then the new one twice; they are \
                 not shown. An empty line cancels. Your other sessions will be ended."
            }
            Purpose::Unregister => {
                "Removing your account. Type its password (not shown) to confirm; an empty line \
                 cancels."
            }
        }
    }
}

/// A prompt under way: what it is for and the answers so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    purpose: Purpose,
    answers: Vec<Secret>,
}

/// Where an answer leaves a prompt.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// More to ask.
    Next(Prompt),
    /// Every answer is in: the request to send.
    Done(Box<Frame>),
    /// Given up; the text says why.
    Cancelled(String),
}

impl Prompt {
    /// A prompt for `purpose`, before its first question.
    pub fn new(purpose: Purpose) -> Self {
        Prompt { purpose, answers: Vec::new() }
    }

    /// What it is for.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The question being asked.
    pub fn ask(&self) -> Ask {
        let steps = self.purpose.steps();
        steps[self.answers.len().min(steps.len() - 1)]
    }

    /// Takes the answer to the current question.
    pub fn answer(mut self, secret: Secret) -> Step {
        if secret.is_empty() {
            return Step::Cancelled("Cancelled; nothing was sent.".into());
        }
        let ask = self.ask();
        let new = ask.is_new() || (self.purpose == Purpose::Register && ask == Ask::Password);
        if new && let Err(e) = validate_password(secret.expose()) {
            return Step::Cancelled(format!("{e} Nothing was sent."));
        }
        self.answers.push(secret);
        if self.answers.len() < self.purpose.steps().len() {
            return Step::Next(self);
        }
        let text = |i: usize| self.answers[i].expose().to_owned();
        let frame = match self.purpose {
            Purpose::Register if self.answers[0] != self.answers[1] => {
                return Step::Cancelled("The two passwords differ; nothing was sent.".into());
            }
            Purpose::ChangePassword if self.answers[1] != self.answers[2] => {
                return Step::Cancelled("The two new passwords differ; nothing was sent.".into());
            }
            Purpose::Register => Frame { register: Some(text(0)), ..Frame::default() },
            Purpose::ChangePassword => {
                Frame { change_password: Some([text(0), text(1)]), ..Frame::default() }
            }
            Purpose::Unregister => Frame { unregister: Some(text(0)), ..Frame::default() },
        };
        Step::Done(Box::new(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers `prompt` with `answers` in turn; the last step.
    fn run(purpose: Purpose, answers: &[&str]) -> Step {
        let mut prompt = Prompt::new(purpose);
        let mut step = None;
        for a in answers {
            let s = prompt.clone().answer(Secret::new(*a));
            match s {
                Step::Next(p) => prompt = p,
                other => return other,
            }
            step = Some(Step::Next(prompt.clone()));
        }
        step.expect("answers")
    }

    #[test]
    fn register_asks_twice_and_sends_the_password() {
        let p = Prompt::new(Purpose::Register);
        assert_eq!(p.ask(), Ask::Password);
        let Step::Next(p) = p.answer(Secret::new("correct horse")) else { panic!() };
        assert_eq!(p.ask(), Ask::PasswordAgain);
        let Step::Done(f) = p.answer(Secret::new("correct horse")) else { panic!() };
        assert_eq!(*f, Frame { register: Some("correct horse".into()), ..Frame::default() });
    }

    #[test]
    fn change_asks_old_then_new_twice() {
        let p = Prompt::new(Purpose::ChangePassword);
        assert_eq!(p.ask(), Ask::OldPassword);
        assert!(matches!(
            run(Purpose::ChangePassword, &["short", "new password"]),
            Step::Next(p) if p.ask() == Ask::NewPasswordAgain
        ));
        let Step::Done(f) = run(Purpose::ChangePassword, &["old", "new password", "new password"])
        else {
            panic!()
        };
        assert_eq!(f.change_password, Some(["old".into(), "new password".into()]));
    }

    #[test]
    fn unregister_asks_once() {
        let Step::Done(f) = run(Purpose::Unregister, &["whatever it was"]) else { panic!() };
        assert_eq!(f.unregister.as_deref(), Some("whatever it was"));
    }

    #[test]
    fn mistakes_and_empty_answers_cancel_before_anything_is_sent() {
        for (purpose, answers, why) in [
            (Purpose::Register, &["short"][..], "at least 8"),
            (Purpose::Register, &["long enough", "long enougH"], "differ"),
            (Purpose::ChangePassword, &["old", "tiny"], "at least 8"),
            (Purpose::ChangePassword, &["old", "long enough", "other one"], "differ"),
            (Purpose::Register, &[""], "Cancelled"),
            (Purpose::ChangePassword, &["old", ""], "Cancelled"),
            (Purpose::Unregister, &[""], "Cancelled"),
        ] {
            match run(purpose, answers) {
                Step::Cancelled(t) => {
                    assert!(
                        t.contains(why) && t.to_lowercase().contains("nothing was sent"),
                        "{t}"
                    );
                    for a in answers.iter().filter(|a| !a.is_empty()) {
                        assert!(!t.contains(a), "the message never repeats a password: {t}");
                    }
                }
                other => panic!("{purpose:?} {answers:?}: {other:?}"),
            }
        }
        let long = "x".repeat(shared::limits::MAX_PASSWORD_BYTES + 1);
        assert!(
            matches!(run(Purpose::Register, &[&long]), Step::Cancelled(t) if t.contains("at most"))
        );
    }
}
