//! Deadlines: the workflow's, the service's and the step's timeout meet here,
//! and the earliest one wins.
