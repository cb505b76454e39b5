//! Name and key rules.

use super::*;

#[test]
fn dns_helpers_match_upstream() {
    assert!(is_dns1123_label("my-name").is_empty());
    assert!(is_dns1123_label("123-abc").is_empty());
    assert_eq!(
        is_dns1123_label("a.b"),
        vec!["must not contain dots".to_string()]
    );
    assert_eq!(is_dns1123_label("Bad"), vec![label_msg()]);
    assert_eq!(is_dns1123_label("-a"), vec![label_msg()]);
    assert_eq!(is_dns1123_label(""), vec![label_msg()]);
    let long = "a".repeat(64);
    assert_eq!(
        is_dns1123_label(&long),
        vec!["must be no more than 63 characters".to_string()]
    );
    assert!(is_dns1123_subdomain("example.com").is_empty());
    assert_eq!(
        is_dns1123_subdomain("Bad_Name"),
        vec![SUBDOMAIN_RE.to_string()]
    );
    assert_eq!(is_dns1123_subdomain("a..b"), vec![SUBDOMAIN_RE.to_string()]);
    assert_eq!(
        is_dns1123_subdomain(&"a".repeat(254)),
        vec!["must be no more than 253 characters".to_string()]
    );
    assert!(is_dns1035_label("abc-123").is_empty());
    assert_eq!(
        is_dns1035_label("1abc"),
        vec!["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string()]
    );
}

#[test]
fn qualified_name_and_label_value() {
    assert!(is_qualified_name("app.kubernetes.io/name").is_empty());
    assert!(is_qualified_name("MyName").is_empty());
    assert_eq!(
        is_qualified_name("/a"),
        vec!["prefix part must be non-empty".to_string()]
    );
    assert_eq!(
        is_qualified_name("Example.com/a"),
        vec![format!("prefix part {SUBDOMAIN_RE}")]
    );
    let name_re = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    assert_eq!(
        is_qualified_name("a/"),
        vec![
            "name part must be non-empty".to_string(),
            name_re.to_string()
        ]
    );
    assert_eq!(is_qualified_name("-x"), vec![name_re.to_string()]);
    assert_eq!(
        is_qualified_name(&"x".repeat(64)),
        vec!["name part must be no more than 63 characters".to_string()]
    );
    assert_eq!(
        is_qualified_name("a/b/c"),
        vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string()]
    );
    assert!(is_valid_label_value("").is_empty());
    assert!(is_valid_label_value("v1.2_x").is_empty());
    assert_eq!(
        is_valid_label_value("bad value"),
        vec!["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')".to_string()]
    );
    assert_eq!(
        is_valid_label_value(&"v".repeat(64)),
        vec!["must be no more than 63 characters".to_string()]
    );
}

#[test]
fn config_map_key_and_port_helpers() {
    assert!(is_config_map_key("key.name").is_empty());
    let key_re = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";
    assert_eq!(is_config_map_key("a b"), vec![key_re.to_string()]);
    assert_eq!(
        is_config_map_key(".."),
        vec!["must not be '..'".to_string()]
    );
    assert_eq!(is_config_map_key("."), vec!["must not be '.'".to_string()]);
    assert_eq!(
        is_config_map_key("..x"),
        vec!["must not start with '..'".to_string()]
    );
    assert!(is_valid_port_name("http").is_empty());
    assert_eq!(
        is_valid_port_name("a-very-long-port-name"),
        vec!["must be no more than 15 characters".to_string()]
    );
    assert_eq!(
        is_valid_port_name("-8080--"),
        vec![
            "must contain at least one letter (a-z)".to_string(),
            "must not contain consecutive hyphens".to_string(),
            "must not begin or end with a hyphen".to_string()
        ]
    );
    assert_eq!(
        is_valid_port_name("HTTP"),
        vec![
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
            "must contain at least one letter (a-z)".to_string()
        ]
    );
    assert!(is_valid_port_num(65535).is_empty());
    assert_eq!(
        is_valid_port_num(0),
        vec!["must be between 1 and 65535, inclusive".to_string()]
    );
}
