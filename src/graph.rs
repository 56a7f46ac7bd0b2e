//! The workflow drawn as a flowchart: Mermaid (default) or Graphviz DOT, with
//! parallel groups as fork/join, `when` on edges, compensations dashed.
