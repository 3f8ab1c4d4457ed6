//! Integration tests of `imagesmith-catalog`: the PowerShell of every built-in component
//! document parses (issues 12 and 13), and every component with a vendor Windows build has a
//! verified Windows method (issue 12).

#[path = "../support/powershell.rs"]
mod powershell;

mod os_families;
mod powershell_check;
mod powershell_scripts;
mod windows_methods;
