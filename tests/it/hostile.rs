//! Hostile workflows: files built to exhaust the loader's stack, memory or
//! time, and templates built to render gigabytes. Each must end in a clear,
//! located problem, within the limits documented in docs/workflow.md.

use maestro::template::{MAX_RENDERED_BYTES, Scope};
use maestro::workflow::{Diagnostic, Diagnostics, MAX_FILE_BYTES, Workflow, load_file, load_str};
use serde_json::json;

fn load(source: &str) -> Result<Workflow, Diagnostics> {
    load_str(source, "hostile.yaml", &|_| None)
}

/// The only problem reported for `source`, which must hold `expected`.
fn refused(source: &str, expected: &str) -> Diagnostic {
    let problems = load(source).expect_err("a hostile file must be refused");
    let first = problems
        .iter()
        .next()
        .expect("at least one problem")
        .clone();
    assert!(
        first.message.contains(expected),
        "expected `{expected}` in:\n{problems}"
    );
    first
}

/// A valid workflow around one step `input` and a workflow `output`.
fn workflow(input: &str, output: &str) -> String {
    format!(
        "name: hostile\nservices:\n  api:\n    type: http\n    endpoint: \"http://127.0.0.1:1\"\n\
         steps:\n  - id: a\n    service: api\n    method: \"POST /a\"\n    input: {input}\n\
         output:\n  {output}\n"
    )
}

#[test]
fn ten_thousand_levels_of_flow_nesting_are_refused_at_line_one() {
    let lists = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let maps = format!("{}x{}", "{a: ".repeat(10_000), "}".repeat(10_000));
    let dashes = format!("{}x\n", "- ".repeat(10_000));
    for source in [lists, maps, dashes] {
        let problem = refused(&source, "nested more than 48 levels deep");
        assert_eq!(problem.line, 1, "{problem}");
        assert!(problem.column > 1, "{problem}");
    }
}

#[test]
fn deep_block_nesting_is_refused_where_it_passes_the_limit() {
    let mut source = String::new();
    for level in 0..2_000 {
        source.push_str(&" ".repeat(level));
        source.push_str("k:\n");
    }
    let problem = refused(&source, "nested more than 48 levels deep");
    assert_eq!(problem.line, 49, "{problem}");
}

#[test]
fn nesting_just_under_the_limit_is_not_refused_for_depth() {
    let source = format!("name: {}x{}\n", "[".repeat(47), "]".repeat(47));
    let problems = load(&source).expect_err("name must be a string");
    assert!(
        problems.iter().all(|p| !p.message.contains("nested")),
        "{problems}"
    );
}

#[test]
fn nesting_built_up_through_aliases_is_refused() {
    let mut source = format!("a0: &a0 {}x{}\n", "[".repeat(40), "]".repeat(40));
    for i in 1..70 {
        let open = "[".repeat(40);
        let close = "]".repeat(40);
        source.push_str(&format!("a{i}: &a{i} {open}*a{}{close}\n", i - 1));
    }
    let problem = refused(&source, "nested more than 48 levels deep");
    assert_eq!(problem.line, 2, "{problem}");
}

#[test]
fn a_ten_megabyte_file_is_refused_before_it_is_parsed() {
    let big = format!("name: big\n# {}\n", "x".repeat(10 * 1024 * 1024));
    let dir = std::env::temp_dir().join(format!("maestro-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("big.yaml");
    std::fs::write(&file, &big).expect("write the file");
    let problems = load_file(&file).expect_err("too large");
    std::fs::remove_dir_all(&dir).ok();
    let text = problems.to_string();
    assert!(text.contains("big.yaml"), "{text}");
    assert!(
        text.contains(&format!("at most {MAX_FILE_BYTES}")),
        "{text}"
    );
    // The same text handed over in memory meets the same limit.
    refused(&big, &format!("at most {MAX_FILE_BYTES}"));
}

#[test]
fn a_file_under_the_size_limit_with_too_many_values_is_refused() {
    let mut source = String::from("name: many\noutput:\n");
    for i in 0..210_000 {
        source.push_str(&format!("  k{i}: 1\n"));
    }
    assert!(source.len() as u64 <= MAX_FILE_BYTES);
    refused(&source, "more than 200000 values");
}

#[test]
fn a_billion_laughs_of_lists_is_refused() {
    let mut source = String::from("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        let alias = format!("*l{}", i - 1);
        let items = [alias.as_str(); 10].join(", ");
        source.push_str(&format!("l{i}: &l{i} [{items}]\n"));
    }
    let problem = refused(&source, "aliases expand to more than 100000 values");
    assert!(problem.hint.is_some_and(|h| h.contains("alias")));
}

/// Few aliases, each of a list of long strings: the replay limit counts
/// values, not bytes, and would let a gigabyte through.
#[test]
fn aliases_of_long_strings_are_refused_by_their_expanded_size() {
    let long = "x".repeat(100_000);
    let mut source = format!("a: &a [{}]\n", [long.as_str(); 10].join(", "));
    source.push_str("b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n");
    source.push_str("c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n");
    source.push_str("d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n");
    let problem = refused(&source, "aliases expanded, exceeds 16 MiB");
    assert_eq!(problem.line, 3, "{problem}");
}

#[test]
fn cyclic_and_dangling_aliases_are_refused_where_they_are_used() {
    let problem = refused("a: &a [*a]\n", "Recursive reference");
    assert_eq!((problem.line, problem.column), (1, 8), "{problem}");
    let problem = refused(
        "name: x\nsteps: *nowhere\n",
        "alias `*nowhere` refers to no anchor `&nowhere`",
    );
    assert_eq!((problem.line, problem.column), (2, 8), "{problem}");
}

#[test]
fn deeply_nested_template_expressions_are_refused_with_the_field() {
    let parens = format!("\"{{{{ {}.input{} }}}}\"", "(".repeat(20), ")".repeat(20));
    let problem = refused(
        &workflow(&parens, "x: 1"),
        "expressions nest at most 16 levels deep",
    );
    assert_eq!(
        (problem.line, problem.path.as_str()),
        (10, "steps[0].input")
    );
    let bangs = format!("\"{{{{ {}.input }}}}\"", "!".repeat(20));
    refused(&workflow(&bangs, "x: 1"), "nest at most 16 levels");
}

/// Ten thousand parentheses, or `||` a hundred thousand times: once these
/// overflowed the stack; now the length is refused before any recursion.
#[test]
fn long_expressions_are_refused_with_a_short_message() {
    let parens = format!(
        "\"{{{{ {}.input{} }}}}\"",
        "(".repeat(10_000),
        ")".repeat(10_000)
    );
    let chain = format!("\"{{{{ .input{} }}}}\"", " || .input".repeat(100_000));
    for input in [parens, chain] {
        let problem = refused(&workflow(&input, "x: 1"), "at most 256 are allowed");
        assert_eq!(problem.path, "steps[0].input");
        assert!(problem.message.len() < 500, "{}", problem.message.len());
    }
}

#[test]
fn a_huge_literal_loads_and_renders_as_it_is() {
    let literal = "y".repeat(3 * 1024 * 1024);
    let workflow = load(&workflow("{}", &format!("text: \"{literal}\""))).expect("valid");
    let output = workflow.output.expect("an output");
    let rendered = output.render(&Scope::new(json!({}))).expect("renders");
    assert_eq!(rendered["text"].as_str().map(str::len), Some(literal.len()));
}

#[test]
fn many_copies_of_the_input_in_one_output_are_refused() {
    let leaves = vec!["\"{{ .input }}\""; 2_000].join(", ");
    let workflow = load(&workflow("{}", &format!("copies: [{leaves}]"))).expect("valid");
    let input = json!("z".repeat(10_000));
    let err = workflow
        .output
        .expect("an output")
        .render(&Scope::new(input))
        .expect_err("20 MB of copies");
    let limit = format!("larger than {} MiB", MAX_RENDERED_BYTES / (1024 * 1024));
    assert!(err.to_string().contains(&limit), "{err}");
    assert!(err.to_string().contains("{{ .input }}"), "{err}");
}

#[test]
fn text_repeating_the_input_is_cut_at_the_limit() {
    let text = "{{ .input }}".repeat(2_000);
    let workflow = load(&workflow("{}", &format!("text: \"{text}\""))).expect("valid");
    let input = json!("z".repeat(10_000));
    let err = workflow
        .output
        .expect("an output")
        .render(&Scope::new(input))
        .expect_err("20 MB of text");
    assert!(err.to_string().contains("larger than 16 MiB"), "{err}");
}
