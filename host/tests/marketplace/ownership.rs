//! Connector ids are owned: a package cannot take over a bundled connector
//! (which would hand it every integration's secrets and the directory data
//! sign-in trusts) without an admin's explicit, audited choice, nor an id
//! another publisher installed first; the catalog holds to it when loading,
//! and an older version is installed only when confirmed.

use cube_test_support as common;

use std::collections::BTreeMap;
use std::sync::Arc;

use cube_host::integrations::seal_secrets;
use cube_host::marketplace::install::{self, InstallError, InstallOptions};
use cube_host::marketplace::keys::{SecretKey, trust};
use cube_host::marketplace::ownership::{Bundled, OWNER_FILE, Owner};
use cube_host::marketplace::package::Package;
use cube_host::marketplace::signature;
use cube_host::secrets::{MasterKey, Sealer};
use cube_host::store::Store;
use cube_host::store::integrations::IntegrationFields;
use reqwest::StatusCode;
use serde_json::json;

use common::ADMIN_PASSWORD;
use common::client::Api;
use common::marketplace::{
    installed_dir, loaded_catalog, manifest_of, publish, replace_once, trivial_wasm,
};
use common::marketplace_ui::{
    install_from_the_page, install_through_the_api, no_marketplace_change_audited, submit_refused,
};

/// The Active Directory connector as a stranger would repack it: the same
/// id, its version string patched to 6.6.6 so the catalog shows whose code
/// serves the id.
fn active_directory_takeover() -> Vec<u8> {
    replace_once(
        common::plugin_wasm("active-directory"),
        b"Active Directory / LDAP0.1.0",
        b"Active Directory / LDAP6.6.6",
    )
}

/// An Active Directory integration with its bind password sealed, as the
/// wizard leaves it.
async fn directory_integration(store: &Store, catalog: &cube_host::web::Catalog) {
    let (connector, info) = catalog.get("active-directory").unwrap();
    store
        .upsert_provider(&info, connector.digest())
        .await
        .unwrap();
    let fields = IntegrationFields::new("Corporate AD", serde_json::Map::new());
    let sealer = Arc::new(Sealer::new(&MasterKey::generate()));
    let secrets = BTreeMap::from([("password".to_owned(), "bind-secret".to_owned())]);
    store
        .create_integration("active-directory", &fields, "admin", |id| {
            seal_secrets(&sealer, id, &secrets)
        })
        .await
        .unwrap();
}

/// The reproduction: trusted publisher `acme` publishes a package
/// with the id `active-directory`. Before ids were owned, installing it
/// replaced the bundled connector silently, with no capability review.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_publisher_cannot_take_over_a_bundled_connector_unasked() {
    let desk = tempfile::tempdir().unwrap();
    let registry = desk.path().join("registry");
    let acme = SecretKey::generate("acme");
    let (_, acme_pub) = acme.write_pair(&desk.path().join("keys")).unwrap();
    publish(
        desk.path(),
        &registry,
        active_directory_takeover(),
        Some(&acme),
        "acme",
    )
    .await;

    let catalog = common::plugin_catalog(&["active-directory"]).await;
    let (base, store, data) =
        common::serve_admin_app_with_registry(catalog.clone(), &registry).await;
    let data = data.path().to_path_buf();
    trust(&data, &acme_pub).unwrap();
    directory_integration(&store, &catalog).await;

    // The review page says what the package would replace and receive.
    let (mut admin, csrf) = common::sign_in_admin(&base).await;
    let review = admin.get("/marketplace/active-directory/6.6.6").await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert!(
        review.body.contains("This replaces a bundled connector"),
        "{}",
        review.body
    );
    assert!(
        review
            .body
            .contains("It would serve 1 integration (Corporate AD), with 1 secret."),
        "{}",
        review.body
    );
    assert!(
        review
            .body
            .contains("asks for exactly what the bundled connector asks for")
    );

    // A trusted package, every other box ticked: still refused.
    submit_refused(
        &mut admin,
        &csrf,
        "/marketplace/active-directory/6.6.6",
        &[("accept_untrusted", "on"), ("approve_capabilities", "on")],
        StatusCode::UNPROCESSABLE_ENTITY,
        "is the id of a connector bundled with this host",
    )
    .await;
    assert!(!installed_dir(&data, "active-directory").exists());
    assert_eq!(
        catalog.get("active-directory").unwrap().1.version,
        "0.1.0",
        "the bundled connector still serves"
    );

    // The API says the same, with what it would receive.
    let api = Api::sign_in(&base, "admin", ADMIN_PASSWORD).await;
    let (status, body) =
        install_through_the_api(&api, json!({"id": "active-directory", "version": "6.6.6"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["replaces_bundled"]["secrets"], 1);
    assert_eq!(
        body["error"]["replaces_bundled"]["integrations"],
        json!(["Corporate AD"])
    );
    assert!(
        no_marketplace_change_audited(&store).await,
        "a refusal changes nothing"
    );

    // The explicit choice: installed, audited with what it receives.
    install_from_the_page(
        &mut admin,
        &csrf,
        "active-directory",
        "6.6.6",
        &[("replace_bundled", "on")],
    )
    .await;
    assert_eq!(catalog.get("active-directory").unwrap().1.version, "6.6.6");
    let audit = store.audit_entries(100).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "marketplace.replace_bundled")
        .expect("the replacement is audited");
    assert_eq!(entry.actor, "admin");
    let after = entry.after.as_ref().unwrap();
    assert_eq!(after["publisher"], "acme");
    assert_eq!(after["secrets"], 1);
    assert_eq!(after["integrations"], json!(["Corporate AD"]));
    let owner: Owner = serde_json::from_slice(
        &std::fs::read(installed_dir(&data, "active-directory").join(OWNER_FILE)).unwrap(),
    )
    .unwrap();
    assert_eq!(owner.publisher, "acme");
    assert_eq!(
        owner.replaces_bundled.unwrap().approved_by,
        "web:admin",
        "the choice is recorded with the id"
    );
}

/// A package put in place without the choice (by an install from before
/// ids were owned, or by hand) does not replace the bundled connector when
/// the catalog loads; one with the recorded choice does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_loads_a_replacement_only_with_the_admins_choice() {
    let data = tempfile::tempdir().unwrap();
    let bundled_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        bundled_dir.path().join("active-directory.wasm"),
        common::plugin_wasm("active-directory"),
    )
    .unwrap();
    let package = unsigned_package(active_directory_takeover()).await;
    let options = InstallOptions {
        allow_untrusted: true,
        ..Default::default()
    };
    // As an install that knew of no bundled connectors left it.
    install::install_with(&package, data.path(), options, &Bundled::default(), "cli")
        .await
        .unwrap();

    let dirs = vec![
        bundled_dir.path().to_path_buf(),
        install::connectors_dir(data.path()),
    ];
    let catalog = loaded_catalog(dirs.clone()).await;
    assert_eq!(catalog.get("active-directory").unwrap().1.version, "0.1.0");
    let (_, failed) = catalog.list();
    assert!(
        failed
            .iter()
            .any(|(_, why)| why.contains("no admin chose to replace the bundled one")),
        "{failed:?}"
    );

    // The admin's choice, through the installer, which now knows the ids.
    let bundled = catalog.bundled();
    let refused = install::install_with(&package, data.path(), options, &bundled, "cli")
        .await
        .unwrap_err();
    assert!(
        matches!(refused, InstallError::ReplacesBundled { .. }),
        "{refused}"
    );
    let replace = InstallOptions {
        replace_bundled: true,
        ..options
    };
    install::install_with(&package, data.path(), replace, &bundled, "cli")
        .await
        .unwrap();
    let catalog = loaded_catalog(dirs).await;
    assert_eq!(catalog.get("active-directory").unwrap().1.version, "6.6.6");

    // Uninstalling the replacement serves the bundled connector again.
    catalog.remove("active-directory");
    assert_eq!(catalog.get("active-directory").unwrap().1.version, "0.1.0");
}

/// An id is its first publisher's: another trusted publisher's package
/// under it is refused (it would receive the integrations' secrets), the
/// first publisher's next one is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_belongs_to_its_first_publisher() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let globex = SecretKey::generate("globex");
    let acme = SecretKey::generate("acme");
    for key in [&globex, &acme] {
        let (_, public) = key.write_pair(keys.path()).unwrap();
        trust(data.path(), &public).unwrap();
    }
    let first = signed_package(trivial_wasm(), &globex).await;
    install::install(&first, data.path(), false).await.unwrap();

    let other = signed_package(trivial_wasm(), &acme).await;
    let refused = install::install(&other, data.path(), false)
        .await
        .unwrap_err();
    let message = refused.to_string();
    assert!(
        matches!(&refused, InstallError::IdOwned { owner, .. } if owner == "globex"),
        "{message}"
    );
    assert!(
        message.contains("belongs to the publisher `globex`")
            && message.contains("this package is from `acme`"),
        "{message}"
    );
    // Consent to untrusted packages does not lift it either.
    let unsigned = unsigned_package(trivial_wasm()).await;
    let refused = install::install(&unsigned, data.path(), true)
        .await
        .unwrap_err();
    assert!(matches!(refused, InstallError::IdOwned { .. }), "{refused}");
    let record = install::read_record(&installed_dir(data.path(), "trivial").join("0.1.0"));
    assert_eq!(record.unwrap().publisher, "globex", "nothing was changed");

    // globex itself, again: fine.
    let again = install::install(&first, data.path(), false).await.unwrap();
    assert!(again.already);
}

/// Installing an older version over a newer one needs confirmation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downgrade_needs_confirmation() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let acme = SecretKey::generate("acme");
    let (_, public) = acme.write_pair(keys.path()).unwrap();
    trust(data.path(), &public).unwrap();
    let new = signed_package(
        common::marketplace::jira_variant("0.2.0", "https://*"),
        &acme,
    )
    .await;
    let old = signed_package(common::plugin_wasm("jira"), &acme).await;
    install::install(&new, data.path(), false).await.unwrap();

    let refused = install::install(&old, data.path(), false)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, InstallError::Downgrade { current, .. } if current == "0.2.0"),
        "{refused}"
    );
    let id_dir = installed_dir(data.path(), "jira");
    assert_eq!(install::current_version(&id_dir).as_deref(), Some("0.2.0"));

    let confirmed = InstallOptions {
        allow_downgrade: true,
        ..Default::default()
    };
    let bundled = Bundled::recorded(&install::connectors_dir(data.path()));
    install::install_with(&old, data.path(), confirmed, &bundled, "cli")
        .await
        .unwrap();
    assert_eq!(install::current_version(&id_dir).as_deref(), Some("0.1.0"));
}

async fn signed_package(component: Vec<u8>, key: &SecretKey) -> Vec<u8> {
    let manifest = manifest_of(&component, &key.publisher).await;
    let mut package = Package::new(manifest, component).unwrap();
    signature::sign(&mut package, key).unwrap();
    package.to_bytes()
}

async fn unsigned_package(component: Vec<u8>) -> Vec<u8> {
    let manifest = manifest_of(&component, "acme").await;
    Package::new(manifest, component).unwrap().to_bytes()
}
