namespace AutoBuilder.Server.Hosting;

/// <summary>Where this server is reached: by users and signed links (public), and by local runners (internal).</summary>
public sealed record ServerAddress(Uri PublicUrl, Uri InternalUrl);
