//! Status messages.

use super::*;
use crate::validation::field::{Bad, invalid, required};

#[test]
fn status_message_format() {
    let one = vec![required("spec.containers[0].image", "")];
    assert_eq!(
        status_message("Pod", "", "x", &one),
        "Pod \"x\" is invalid: spec.containers[0].image: Required value"
    );
    let two = vec![
        required("a", ""),
        required("a", ""),
        invalid("b", Bad::Int(3), "bad"),
    ];
    assert_eq!(
        status_message("Deployment", "apps", "web", &two),
        "Deployment.apps \"web\" is invalid: [a: Required value, b: Invalid value: 3: bad]"
    );
    assert_eq!(status_message("Pod", "", "x", &[]), "Pod \"x\" is invalid");
}
