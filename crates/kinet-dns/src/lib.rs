pub mod corefile;
