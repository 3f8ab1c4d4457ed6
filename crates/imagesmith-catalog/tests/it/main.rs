//! Integration tests of `imagesmith-catalog`: the PowerShell of every built-in component
//! document parses (issues 12 and 13).

#[path = "../support/powershell.rs"]
mod powershell;

mod powershell_check;
mod powershell_scripts;
