//! Container resource requirements.

use serde_json::json;

use super::*;

#[test]
fn pod_resources() {
    let spec = json!({"containers": [{"name": "a", "image": "x", "resources": {
        "limits": {"cpu": "500m", "memory": "1Gi", "gpu": "1"},
        "requests": {"cpu": "1", "memory": "-1Mi"}
    }}]});
    assert_eq!(
        pod_errs(spec),
        vec![
            "spec.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource for containers",
            "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than or equal to cpu limit of 500m",
            "spec.containers[0].resources.requests[memory]: Invalid value: \"-1Mi\": must be greater than or equal to 0",
        ]
    );
    let spec = json!({"containers": [{"name": "a", "image": "x", "resources": {
        "limits": {"example.com/dev": "2"}, "requests": {"example.com/dev": "1", "example.com/other": "500m"}
    }}]});
    assert_eq!(
        pod_errs(spec),
        vec![
            "spec.containers[0].resources.requests: Invalid value: \"1\": must be equal to example.com/dev limit of 2",
            "spec.containers[0].resources.requests[example.com/other]: Invalid value: 500m: must be an integer",
            "spec.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources",
        ]
    );
}
