namespace AutoBuilder.Server.Hosting;

/// <summary>Section "Auth".</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>The user every bootstrap creates.</summary>
    public const string AdminUser = "admin";

    /// <summary>
    /// A key ("abk_" + 43–124 URL-safe base64 characters) the admin user gets at start-up, for deployments that cannot
    /// read {data}/admin.key. Unset: the first start writes a random admin key to {data}/admin.key.
    /// </summary>
    public string? BootstrapAdminKey { get; set; }
}
