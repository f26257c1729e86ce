//! Integration tests: the real `provision` binary against a moto server on loopback, with AWS state
//! checked through the SDK. One binary, one moto server (see `harness`).

mod docs;
mod dragons_api;
mod dragons_lab;
mod fanout;
mod faults;
mod fidelity;
mod functions;
mod hardening;
mod harness;
mod ide;
mod inputs;
mod instance_profile;
mod owners;
mod proxy;
mod restricted;
mod session;
mod status;
mod teardown;
mod whoami;
