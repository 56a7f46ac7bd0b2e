//! The console's start form against a workflow with an `input_schema`: it
//! names the required properties, and a refused input shows each violation
//! where it is, as text.

use serde_json::json;

use super::{LIMIT, Setup, setup};

const SECTION: &str = "const s = document.querySelector('section[data-workflow=signup_checked]');";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_start_form_lists_the_violations_of_a_refused_input() {
    let Some(Setup {
        browser,
        server,
        web,
    }) = setup(&["--workflows", "examples/workflows/signup_checked.yaml"]).await
    else {
        return;
    };
    browser.go(&server.url("/workflows")).await;
    let label = format!("{SECTION} return s ? s.querySelector('label').textContent : null;");
    let label = browser
        .wait("the form is drawn", &label, json!([]), LIMIT)
        .await;
    assert_eq!(label, "Input (JSON; required: email, name)");

    let input = json!({"name": "<img src=x onerror=alert(1)>", "plan": "gold", "x<b>": 1});
    let fill = format!(
        "{SECTION} s.querySelector('textarea').value = arguments[0]; \
         s.querySelector('button[type=submit]').click(); return true;"
    );
    browser.run(&fill, json!([input.to_string()])).await;
    let listed = format!(
        "{SECTION} const items = Array.from(s.querySelectorAll('ul.violations li')).map(li => li.textContent); \
         return items.length ? items : null;"
    );
    let items = browser
        .wait("the violations are listed", &listed, json!([]), LIMIT)
        .await;
    let mut items: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    items.sort();
    assert_eq!(
        items,
        [
            "/ \"email\" is a required property",
            "/ Additional properties are not allowed ('x<b>' was unexpected)",
            "/plan the value is not one of \"free\", \"pro\" or \"premium\"",
        ]
    );
    let markup = format!("{SECTION} return s.querySelectorAll('img, b').length;");
    assert_eq!(browser.run(&markup, json!([])).await, 0);
    assert_eq!(web.calls().len(), 0);
    browser.quit().await;
}
