//! Printers of the `batch` kinds: Job and CronJob.

use super::format::{
    age_of, first_condition_true, format_label_selector, human_duration, layout_containers, since,
    time_at,
};
use super::{AGE, CONTAINERS, IMAGES, KindTable, NAME, col, wide};
use crate::json::{arr_at, at, int_at, name, str_at};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub(super) const TABLES: &[KindTable] = &[JOB, CRON_JOB];

const D_JOB_SELECTOR: &str = "A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

const JOB: KindTable = KindTable {
    kind: "Job",
    columns: &[
        NAME,
        col("Status", "string", "Status of the job."),
        col("Completions", "string", D_JOB_SUCCEEDED),
        col("Duration", "string", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", D_JOB_SELECTOR),
    ],
    cells: job_cells,
};

const D_JOB_SUCCEEDED: &str = "The number of pods which reached phase Succeeded. The value increases monotonically for a given spec. However, it may decrease in reaction to scale down of elastic indexed jobs.";

fn job_cells(job: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let succeeded = int_at(job, "/status/succeeded").unwrap_or(0);
    let completions = match int_at(job, "/spec/completions") {
        Some(c) => format!("{succeeded}/{c}"),
        None => {
            let parallelism = int_at(job, "/spec/parallelism").unwrap_or(0);
            if parallelism > 1 {
                format!("{succeeded}/1 of {parallelism}")
            } else {
                format!("{succeeded}/1")
            }
        }
    };
    let start = time_at(job, "/status/startTime");
    let done = time_at(job, "/status/completionTime");
    let duration = match (start, done) {
        (None, _) => String::new(),
        (Some(st), None) => human_duration(now - st),
        (Some(st), Some(d)) => human_duration(d - st),
    };
    let conds = arr_at(job, "/status/conditions");
    let status = if first_condition_true(conds, "Complete") {
        "Complete"
    } else if first_condition_true(conds, "Failed") {
        "Failed"
    } else if at(job, "/metadata/deletionTimestamp").is_some() {
        "Terminating"
    } else if first_condition_true(conds, "Suspended") {
        "Suspended"
    } else if first_condition_true(conds, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = layout_containers(job, "/spec/template/spec/containers");
    vec![
        json!(name(job)),
        json!(status),
        json!(completions),
        json!(duration),
        json!(age_of(job, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(at(job, "/spec/selector"))),
    ]
}

const CRON_JOB: KindTable = KindTable {
    kind: "CronJob",
    columns: &[
        NAME,
        col("Schedule", "string", D_CJ_SCHEDULE),
        col("Timezone", "string", D_CJ_TIMEZONE),
        col("Suspend", "boolean", D_CJ_SUSPEND),
        col("Active", "integer", D_CJ_ACTIVE),
        col("Last Schedule", "string", D_CJ_LAST),
        AGE,
        CONTAINERS,
        IMAGES,
        wide("Selector", "string", D_JOB_SELECTOR),
    ],
    cells: cron_job_cells,
};

const D_CJ_SCHEDULE: &str = "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron.";
const D_CJ_TIMEZONE: &str = "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, this will default to the time zone of the kube-controller-manager process. The set of valid time zone names and the time zone offset is loaded from the system-wide time zone database by the API server during CronJob validation and the controller manager during execution. If no system-wide time zone database can be found a bundled version of the database is used instead. If the time zone name becomes invalid during the lifetime of a CronJob or due to a change in host configuration, the controller will stop creating new new Jobs and will create a system event with the reason UnknownTimeZone. More information can be found in https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones";
const D_CJ_SUSPEND: &str = "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false.";
const D_CJ_ACTIVE: &str = "A list of pointers to currently running jobs.";
const D_CJ_LAST: &str = "Information when was the last time the job was successfully scheduled.";

fn cron_job_cells(cj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let last = match at(cj, "/status/lastScheduleTime").and_then(Value::as_str) {
        Some(t) => since(t, now),
        None => "<none>".to_string(),
    };
    let tz = at(cj, "/spec/timeZone")
        .and_then(Value::as_str)
        .unwrap_or("<none>");
    let suspend = match at(cj, "/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let (names, images) = layout_containers(cj, "/spec/jobTemplate/spec/template/spec/containers");
    vec![
        json!(name(cj)),
        json!(str_at(cj, "/spec/schedule")),
        json!(tz),
        json!(suspend),
        json!(arr_at(cj, "/status/active").len() as i64),
        json!(last),
        json!(age_of(cj, now)),
        json!(names),
        json!(images),
        json!(format_label_selector(at(
            cj,
            "/spec/jobTemplate/spec/selector"
        ))),
    ]
}

#[cfg(test)]
mod tests {
    use crate::table::test_util::*;
    use crate::table::{cells, columns};
    use serde_json::json;

    #[test]
    fn job_cells_variants() {
        assert_eq!(
            names("Job"),
            "Name, Status, Completions, Duration, Age, +Containers, +Images, +Selector"
        );
        let done = json!({"metadata": {"name": "pi", "creationTimestamp": ago(300)},
            "spec": {"completions": 1, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
                     "template": template(json!([{"name": "pi", "image": "perl"}]))},
            "status": {"succeeded": 1, "startTime": ago(290), "completionTime": ago(250),
                       "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}});
        let c = strs(&cells("Job", &done, now()));
        assert_eq!(
            c[1..5],
            [
                "Complete".to_string(),
                "1/1".into(),
                "40s".into(),
                "5m".into()
            ]
        );
        let running = json!({"metadata": {"name": "r"}, "spec": {"parallelism": 3, "template": template(json!([]))},
                             "status": {"startTime": ago(10)}});
        let c = strs(&cells("Job", &running, now()));
        assert_eq!(
            c[1..4],
            ["Running".to_string(), "0/1 of 3".into(), "10s".into()]
        );
        let fresh = json!({"metadata": {"name": "f"}, "spec": {"template": template(json!([]))}});
        assert_eq!(
            strs(&cells("Job", &fresh, now()))[1..4],
            ["Running".to_string(), "0/1".into(), String::new()]
        );
        let failed = json!({"metadata": {"name": "f"}, "spec": {}, "status": {"conditions": [{"type": "Failed", "status": "True"}]}});
        assert_eq!(strs(&cells("Job", &failed, now()))[1], "Failed");
        let susp = json!({"metadata": {"name": "f"}, "spec": {}, "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        assert_eq!(strs(&cells("Job", &susp, now()))[1], "Suspended");
        let term = json!({"metadata": {"name": "f", "deletionTimestamp": ago(1)}, "spec": {},
                          "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
        assert_eq!(strs(&cells("Job", &term, now()))[1], "Terminating");
        let ft = json!({"metadata": {"name": "f"}, "spec": {}, "status": {"conditions": [{"type": "FailureTarget", "status": "True"}]}});
        assert_eq!(strs(&cells("Job", &ft, now()))[1], "FailureTarget");
    }

    #[test]
    fn cronjob_cells() {
        assert_eq!(columns("CronJob")[3].type_, "boolean");
        let cj = json!({"metadata": {"name": "hello", "creationTimestamp": ago(3600)},
            "spec": {"schedule": "*/1 * * * *", "suspend": false,
                     "jobTemplate": {"spec": {"template": template(json!([{"name": "h", "image": "busybox"}]))}}},
            "status": {"active": [{"name": "hello-1"}], "lastScheduleTime": ago(20)}});
        let c = cells("CronJob", &cj, now());
        assert_eq!(
            c,
            vec![
                json!("hello"),
                json!("*/1 * * * *"),
                json!("<none>"),
                json!("False"),
                json!(1),
                json!("20s"),
                json!("60m"),
                json!("h"),
                json!("busybox"),
                json!("<none>")
            ]
        );
        let cj2 = json!({"metadata": {"name": "x"}, "spec": {"schedule": "@daily", "timeZone": "Etc/UTC", "suspend": true}});
        let c = strs(&cells("CronJob", &cj2, now()));
        assert_eq!(
            c[2..6],
            [
                "Etc/UTC".to_string(),
                "True".into(),
                "0".into(),
                "<none>".into()
            ]
        );
        let cj3 = json!({"metadata": {"name": "x"}, "spec": {"schedule": "@daily"}});
        assert_eq!(strs(&cells("CronJob", &cj3, now()))[3], "<unset>");
    }
}
