//! Every rendered file passes the checker of its format.
